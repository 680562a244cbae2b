// What `lunfs` says when its command line is wrong: one line on stderr naming what is wrong and
// what to type instead, and exit code 2. CLI11's own messages ("The following argument was not
// expected", "A subcommand is required") never reach the user.
#pragma once

#include <CLI/CLI.hpp>
#include <initializer_list>
#include <string>

#include "core/status.h"

namespace lunfs {

// Checks the first word before the parser sees it: a command is needed, and it must be one of
// `app`'s (with a did-you-mean when it is not). Options (--help, --version) pass.
Status CheckCommandWord(CLI::App& app, int argc, char** argv);

// The one line for a parse error, from the subcommand argv names; "" for --help and --version,
// which the parser prints itself.
std::string ParseErrorMessage(CLI::App& app, const CLI::ParseError& e, int argc, char** argv);

// Prints a parse error (or the help it asked for) and returns the exit code.
int ReportParseError(CLI::App& app, const CLI::ParseError& e, int argc, char** argv);

// A check for a number from `min` to `max` (whole when `whole`), whose message is "must be a
// whole number from 1 to 600, not '700'" and which adds nothing to the help's value name.
CLI::Validator Between(double min, double max, bool whole = true);
// A check for one of fixed words: "must be one of auto, bar, lines or none, not 'x'".
CLI::Validator OneOf(std::initializer_list<std::string> words);

}  // namespace lunfs
