// What the command line says when it is wrong: one line, what is wrong and what to type.
#include "tools/cli_errors.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "tools/cli.h"

namespace lunfs {
namespace {

// The message for `args` (after "lunfs"), from the word check or the parser; "" when it parses.
std::string MessageFor(std::vector<std::string> args) {
    args.insert(args.begin(), "lunfs");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    const int argc = static_cast<int>(argv.size());
    std::function<int()> run;
    std::unique_ptr<CLI::App> app = BuildCli(run);
    if (Status s = CheckCommandWord(*app, argc, argv.data()); !s.ok()) return s.message();
    try {
        app->parse(argc, argv.data());
    } catch (const CLI::ParseError& e) {
        return ParseErrorMessage(*app, e, argc, argv.data());
    }
    return "";
}

TEST(CliErrorsTest, CommandsAreNeededAndMisspelledOnesGetADidYouMean) {
    EXPECT_EQ(MessageFor({}),
              "give a command: discover, mount, status, copy, path, reservation or unmount (see "
              "lunfs --help)");
    EXPECT_EQ(MessageFor({"mout", "/mnt", "iscsi://h/iqn.x/1"}),
              "unknown command 'mout' (did you mean 'mount'?)");
    EXPECT_EQ(MessageFor({"frobnicate"}),
              "unknown command 'frobnicate' (use discover, mount, status, copy, path, reservation "
              "or unmount; see lunfs --help)");
}

TEST(CliErrorsTest, MisspelledOptionsGetADidYouMeanAndStrayArgumentsAreNamed) {
    EXPECT_EQ(MessageFor({"mount", "--polcy", "failover", "/mnt", "iscsi://h/iqn.x/1"}),
              "unknown option '--polcy' for lunfs mount (did you mean '--policy'?)");
    EXPECT_EQ(MessageFor({"discover", "--timout=3", "iscsi://h"}),
              "unknown option '--timout' for lunfs discover (did you mean '--timeout'?)");
    EXPECT_EQ(MessageFor({"status", "--bogus-thing", "/mnt"}),
              "unknown option '--bogus-thing' for lunfs status (see lunfs status --help)");
    EXPECT_EQ(MessageFor({"status", "/mnt", "extra"}),
              "unexpected argument 'extra' for lunfs status (see lunfs status --help)");
    EXPECT_EQ(MessageFor({"status"}), "lunfs status needs MOUNTPOINT (see lunfs status --help)");
}

TEST(CliErrorsTest, BadValuesSayTheRuleWithoutParserInternals) {
    EXPECT_EQ(MessageFor({"discover", "--timeout", "700", "iscsi://h"}),
              "--timeout: must be a whole number from 1 to 600, not '700' (see lunfs discover "
              "--help)");
    EXPECT_EQ(MessageFor({"copy", "--progress", "bars", "a", "b"}),
              "--progress: must be auto, bar, lines or none, not 'bars' (did you mean 'bar'?)");
    EXPECT_EQ(
        MessageFor({"status", "--interval", "fast", "/mnt"}),
        "--interval: must be a number from 0.2 to 3600, not 'fast' (see lunfs status --help)");
}

TEST(CliErrorsTest, HelpShowsValueNamesNotParserInternals) {
    std::function<int()> run;
    std::unique_ptr<CLI::App> app = BuildCli(run);
    for (const char* sub : {"discover", "mount", "status", "copy", "path", "unmount"}) {
        const std::string help = app->get_subcommand(sub)->help();
        for (const char* internal :
             {" INT", " TEXT", " FLOAT", " UINT", "NONNEGATIVE", ":{", " in ["}) {
            EXPECT_EQ(help.find(internal), std::string::npos) << sub << ": " << internal << "\n"
                                                              << help;
        }
    }
}

}  // namespace
}  // namespace lunfs
