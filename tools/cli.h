// The `lunfs` command line: every subcommand with its options, help text and examples. The man
// page (`lunfs man`) is generated from the same definitions.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace lunfs {

struct Example {
    std::string command;  // a command line, starting with "lunfs"
    std::string comment;  // what it does; may be empty
};

// The examples of a subcommand, as its --help and the man page show them.
const std::vector<Example>& ExamplesOf(const std::string& subcommand);

// Builds the parser. Once it has parsed, `run` does the chosen subcommand's work and returns the
// exit code.
std::unique_ptr<CLI::App> BuildCli(std::function<int()>& run);

// True when lunfs was started as a mount helper (by mount.fuse3: `lunfs SOURCE MOUNTPOINT -o
// OPTIONS`) rather than with a subcommand.
bool IsMountHelperCall(int argc, char** argv);
// Mounts as mount.fuse3 asked. SOURCE is URLs joined by ',', or a config file (or "lunfs" with
// -o config=FILE).
int RunMountHelper(int argc, char** argv);

}  // namespace lunfs
