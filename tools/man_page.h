// The manual page of lunfs, generated from the command-line definitions (tools/cli.cc): the same
// descriptions, options, defaults and examples as --help.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace lunfs {

// roff source of lunfs(1).
std::string RenderManPage(const CLI::App& app);

}  // namespace lunfs
