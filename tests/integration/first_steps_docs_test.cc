// The demo as a newcomer runs it (on this build, in a directory of the test's own), run twice
// and stopped; and the README naming the program's commands, options and metrics, no more and
// no fewer.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <regex>
#include <set>
#include <sstream>

#include "tests/integration/ops_helpers.h"

namespace lunfs::test {
namespace {

using FirstStepsDocsTest = IntegrationTest;

// The build directory of the binary under test (…/build/tools/lunfs -> …/build).
std::string BuildDir() {
    const std::string binary = Lunfs();
    return binary.substr(0, binary.rfind("/tools/"));
}

std::map<std::string, std::string> LabEnv(const std::string& lab) {
    std::map<std::string, std::string> env;
    std::istringstream lines(ReadText(lab + "/lab.env"));
    std::string line;
    while (std::getline(lines, line)) {
        const size_t eq = line.find('=');
        if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return env;
}

TEST_F(FirstStepsDocsTest, TheDemoReusesItsRunningLabAndStopLeavesNothingMounted) {
    const std::string demo_dir = dir_.path() + "/demo";
    const std::string demo = SourceDir() + "/tools/demo";
    const std::string where = " --dir " + demo_dir + " --build " + BuildDir();
    const std::string mnt = demo_dir + "/mnt";
    struct Stop {
        std::string command, lab;
        ~Stop() {
            Shell(command);
            Shell(SourceDir() + "/tools/lab stop --dir " + lab);
        }
    } stop{demo + " stop" + where, demo_dir + "/.lab"};

    const CommandResult first = Shell(demo + where + " --no-build --no-install");
    ASSERT_EQ(first.exit_code, 0) << first.output;
    EXPECT_NE(first.output.find("read back: identical"), std::string::npos) << first.output;
    EXPECT_NE(first.output.find("lunfs is " + Lunfs() + "; put it on PATH with: sudo cmake " +
                                "--install " + BuildDir() + "\n"),
              std::string::npos)
        << first.output;
    EXPECT_EQ(first.output.find("%]"), std::string::npos) << first.output;  // no make output
    const auto env = LabEnv(demo_dir + "/.lab");
    const std::vector<char> mark = RandomBytes(4096, 81);
    ASSERT_TRUE(WriteDirect(mnt + "/lun1", 512 << 20, mark));

    const CommandResult second = Shell(demo + where + " --no-build --no-install");
    ASSERT_EQ(second.exit_code, 0) << second.output;
    EXPECT_NE(second.output.find("the demo is already running: reusing its lab target and the "
                                 "mount on " +
                                 mnt + " (the LUN keeps its data)"),
              std::string::npos)
        << second.output;
    const auto again = LabEnv(demo_dir + "/.lab");
    EXPECT_EQ(again.at("LAB_PORTALS"), env.at("LAB_PORTALS"));
    EXPECT_EQ(again.at("LAB_PID"), env.at("LAB_PID"));
    EXPECT_EQ(ReadFileRange(mnt + "/lun1", 512 << 20, 4096), mark);

    // Something stacked on the demo's mount: stop takes it all down.
    ASSERT_EQ(Shell("mount -t tmpfs lunfs-demo-test " + mnt).exit_code, 0);
    const CommandResult stopped = Shell(demo + " stop" + where);
    EXPECT_EQ(stopped.exit_code, 0) << stopped.output;
    EXPECT_EQ(ReadText("/proc/mounts").find(" " + mnt + " "), std::string::npos)
        << ReadText("/proc/mounts");
    EXPECT_FALSE(Alive(std::atoi(env.at("LAB_PID").c_str())));
}

// Lines of `text` between the line starting with `from` and the next line starting with `to`.
std::string Section(const std::string& text, const std::string& from, const std::string& to) {
    const size_t start = text.find(from);
    if (start == std::string::npos) return "";
    const size_t end = text.find(to, start + from.size());
    return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::set<std::string> Matches(const std::string& text, const std::string& pattern) {
    std::set<std::string> out;
    const std::regex re(pattern, std::regex::multiline);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
         ++it) {
        out.insert((*it)[1].str());
    }
    return out;
}

// The README's metric names: `lunfs_path_up` in full, then `_active` and so on for the same
// prefix (lunfs_path_).
std::set<std::string> ReadmeMetrics(const std::string& readme) {
    const std::string para = Section(readme, "**Metrics.**", "\n\n");
    std::set<std::string> out;
    std::string prefix;
    const std::regex re("`((?:lunfs)?_[a-z0-9_]+)`");
    for (auto it = std::sregex_iterator(para.begin(), para.end(), re); it != std::sregex_iterator();
         ++it) {
        const std::string name = (*it)[1].str();
        if (name.starts_with("lunfs_")) {
            prefix = name.substr(0, name.find('_', 6));
            out.insert(name);
        } else {
            out.insert(prefix + name);
        }
    }
    return out;
}

TEST_F(FirstStepsDocsTest, TheReadmeNamesEveryCommandOptionAndMetricOfTheProgramAndNoOthers) {
    const std::string readme = ReadText(SourceDir() + "/README.md");
    const std::string L = Lunfs();

    const std::string top = Section(Shell(L + " --help").output, "Subcommands:", "\n\n");
    EXPECT_EQ(Matches(readme, "^### `lunfs ([a-z]+)`"), Matches(top, "^  ([a-z]+)"));

    // lunfs mount: the options table, both ways.
    const std::string table = Section(readme, "| option | meaning | default |", "\n\n");
    std::set<std::string> mount_options =
        Matches(Shell(L + " mount --help").output, "^  (?:-[a-z],)?(--[a-z-]+)");
    mount_options.erase("--help");
    EXPECT_EQ(Matches(table, "^\\| `(?:-[a-z]`, `)?(--[a-z-]+)"), mount_options);

    // The other commands: each option named in the command's own section.
    for (const std::string sub : {"discover", "status", "copy", "unmount"}) {
        const std::string section = Section(readme, "### `lunfs " + sub + "`", "\n### ");
        for (const std::string& option :
             Matches(Shell(L + " " + sub + " --help").output, "^  (?:-[a-z],)?(--[a-z-]+)")) {
            if (option == "--help") continue;
            EXPECT_NE(section.find("`" + option), std::string::npos) << sub << " " << option;
        }
    }

    // Metrics: what a live endpoint serves.
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), {lab.Url()}, "--metrics 127.0.0.1:0");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    const std::string address = StatsJson(mount)["metrics"];
    const std::string served = Shell("curl -sf http://" + address + "/metrics").output;
    const std::set<std::string> metrics = Matches(served, "^# TYPE ([a-z0-9_]+) ");
    EXPECT_GT(metrics.size(), 20u) << served;
    EXPECT_EQ(ReadmeMetrics(readme), metrics);
}

}  // namespace
}  // namespace lunfs::test
