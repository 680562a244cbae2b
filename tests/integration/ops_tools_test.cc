// lunfs copy, the live status view (read off a tmux screen), and the documentation: every
// example of every subcommand's --help runs against a lab, the README shows the same examples,
// and the man page renders.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <thread>

#include "tests/integration/ops_helpers.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;
using OpsToolsTest = IntegrationTest;

TEST_F(OpsToolsTest, CopyLoadsAnImageOverAllPathsAndCopiesLunToLunAndBack) {
    LabOptions lo;
    lo.portals = 2;
    lo.luns = 2;
    lo.size = "64M";
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), {lab.Url(0, 1), lab.Url(1, 1), lab.Url(0, 2), lab.Url(1, 2)},
                "--name vm1 --name vm2");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    const std::string image = dir_.path() + "/disk.img";
    const std::vector<char> data = RandomBytes((24 << 20) + 4096 + 512, 51);  // unaligned tail
    WriteFile(image, data);

    CommandResult in = Shell(Lunfs() + " copy --progress lines " + image + " " + mount.File("vm1"));
    ASSERT_EQ(in.exit_code, 0) << in.output;
    EXPECT_TRUE(std::regex_search(in.output, std::regex("copied 24\\.0 MiB in \\d+:\\d\\d \\(")))
        << in.output;
    EXPECT_EQ(ReadFileRange(lab.Backing(1), 0, data.size()), data);
    const nlohmann::json st = Json(mount.Stats());
    for (const auto& p : st["luns"][0]["paths"]) {
        EXPECT_GT(p["bytes_written"].get<uint64_t>(), 1u << 20) << p.dump();  // every path
    }
    EXPECT_GT(st["luns"][0]["paths"][0]["syncs"].get<uint64_t>() +
                  st["luns"][0]["paths"][1]["syncs"].get<uint64_t>(),
              0u);  // ends with fsync

    CommandResult lun =
        Shell(Lunfs() + " copy --progress none " + mount.File("vm1") + " " + mount.File("vm2"));
    ASSERT_EQ(lun.exit_code, 0) << lun.output;
    EXPECT_EQ(lun.output, "");
    EXPECT_EQ(ReadFileRange(lab.Backing(2), 0, data.size()), data);

    const std::string back = dir_.path() + "/back.img";
    CommandResult out = Shell(Lunfs() + " copy --progress none " + mount.File("vm2") + " " + back);
    ASSERT_EQ(out.exit_code, 0) << out.output;
    struct stat sb;
    ASSERT_EQ(stat(back.c_str(), &sb), 0);
    EXPECT_EQ(static_cast<uint64_t>(sb.st_size), 64u << 20);  // the whole LUN
    EXPECT_EQ(ReadFileRange(back, 0, data.size()), data);

    const std::string big = dir_.path() + "/big.img";
    WriteFile(big, {1}, 0, 65u << 20);
    CommandResult too_big = Shell(Lunfs() + " copy " + big + " " + mount.File("vm1"));
    EXPECT_EQ(too_big.exit_code, 1);
    EXPECT_NE(
        too_big.output.find("big.img (65 MiB) does not fit in " + mount.File("vm1") + " (64 MiB)"),
        std::string::npos)
        << too_big.output;
    CommandResult same = Shell(Lunfs() + " copy " + image + " " + image);
    EXPECT_EQ(same.exit_code, 2);
}

// The live view under a real terminal: tmux runs it, the test reads the screen.
TEST_F(OpsToolsTest, StatusWatchDrawsLiveThroughputBarsAndQuitsOnQ) {
    LabOptions lo;
    lo.portals = 2;
    lo.size = "64M";
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls());
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    const std::string tmux =
        "LC_ALL=C.UTF-8 tmux -u -L lunfs-watch-" + std::to_string(getpid()) + " ";
    struct Server {
        std::string tmux;
        ~Server() { Shell(tmux + "kill-server 2>/dev/null"); }
    } server{tmux};
    CommandResult start =
        Shell(tmux + "-f /dev/null new-session -d -s w -x 120 -y 40 'LANG=C.UTF-8 " + Lunfs() +
              " status --watch --interval 0.5 " + Mp() + "; echo WATCH-EXIT=$?; sleep 60'");
    ASSERT_EQ(start.exit_code, 0) << start.output;
    auto screen = [&] { return Shell(tmux + "capture-pane -p -t w").output; };

    // Writes keep both paths busy while the test watches the screen.
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        const std::vector<char> block = RandomBytes(4 << 20, 61);
        for (uint64_t off = 0; !stop; off = (off + block.size()) % (64u << 20)) {
            if (!WriteDirect(mount.File(), off, block)) break;
        }
    });
    std::string shown;
    const std::regex busy_write("W (?:\u2588)+(?:\u2588|\u00b7)* +[0-9.]+ [KMG]iB/s");
    const bool drawn = WaitFor(
        [&] {
            shown = screen();
            return std::regex_search(shown, busy_write) &&
                   shown.find(lab.Url(1) + "  up / active") != std::string::npos;
        },
        8s);
    stop = true;
    writer.join();
    ASSERT_TRUE(drawn) << shown;
    EXPECT_NE(shown.find("lunfs status " + Mp()), std::string::npos) << shown;
    EXPECT_NE(shown.find(lab.Url(0) + "  up / active"), std::string::npos) << shown;
    EXPECT_NE(shown.find("in flight"), std::string::npos) << shown;

    Shell(tmux + "send-keys -t w q");
    EXPECT_TRUE(WaitFor([&] { return screen().find("WATCH-EXIT=0") != std::string::npos; }, 5s))
        << screen();
}

// Every example in `lunfs SUBCOMMAND --help`, in order: each line that starts with "lunfs".
std::vector<std::string> HelpExamples(const std::string& sub) {
    const std::string help = Shell(Lunfs() + " " + sub + " --help").output;
    std::vector<std::string> out;
    const size_t at = help.find("\nExamples:\n");
    std::istringstream lines(at == std::string::npos ? "" : help.substr(at));
    std::string line;
    while (std::getline(lines, line)) {
        if (line.starts_with("  lunfs ")) out.push_back(line.substr(2));
    }
    return out;
}

// The command lines of the README section "### `lunfs SUB`".
std::vector<std::string> ReadmeExamples(const std::string& sub) {
    const std::string readme = ReadText(SourceDir() + "/README.md");
    const size_t at = readme.find("\n### `lunfs " + sub + "`");
    if (at == std::string::npos) return {};
    const size_t end = readme.find("\n#", at + 5);
    std::istringstream lines(readme.substr(at, end - at));
    std::vector<std::string> out;
    std::string line;
    bool code = false;
    while (std::getline(lines, line)) {
        if (line.starts_with("```")) code = !code;
        if (!code || !line.starts_with("lunfs ")) continue;
        line = line.substr(0, line.find("  #"));
        out.push_back(line.substr(0, line.find_last_not_of(' ') + 1));
    }
    return out;
}

TEST_F(OpsToolsTest, EveryHelpExampleRunsAgainstALabAndTheReadmeShowsTheSame) {
    LabOptions lo;
    lo.portals = 3;
    lo.size = "32M";
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    const std::string config = dir_.path() + "/san.toml";
    WriteText(config, "[[lun]]\nname = \"lun1\"\nurls = [\"" + lab.Url(0) + "\"]\n");
    WriteFile(dir_.path() + "/disk.img", RandomBytes(1 << 20, 71));
    const std::vector<std::pair<std::string, std::string>> substitutions = {
        {"iscsi://192.0.2.10:3260", "iscsi://" + lab.Portal(0)},
        {"iscsi://192.0.2.11:3260", "iscsi://" + lab.Portal(1)},
        {"iscsi://192.0.2.10", "iscsi://" + lab.Portal(0)},
        {"iscsi://192.0.2.11", "iscsi://" + lab.Portal(1)},
        {"iscsi://192.0.2.12", "iscsi://" + lab.Portal(2)},
        {"iqn.2026-01.com.example:store", lab.Iqn()},
        {"/etc/lunfs/san.toml", config},
        {"/mnt/san", Mp()},
        {"disk.img", dir_.path() + "/disk.img"},
        {"backup.img", dir_.path() + "/backup.img"},
    };
    auto local = [&](std::string command) {
        for (const auto& [from, to] : substitutions) {
            for (size_t at = command.find(from); at != std::string::npos;
                 at = command.find(from, at + to.size())) {
                command.replace(at, from.size(), to);
            }
        }
        return Lunfs() + command.substr(5);
    };
    mkdir(Mp().c_str(), 0755);
    UnmountGuard guard(Mp());
    const std::string mount_first =
        Lunfs() + " mount " + Mp() + " " + lab.Url(0) + " " + lab.Url(1);
    const std::string unmount = Lunfs() + " unmount " + Mp();
    for (const std::string sub : {"discover", "mount", "status", "copy", "path", "unmount"}) {
        const std::vector<std::string> examples = HelpExamples(sub);
        EXPECT_FALSE(examples.empty()) << sub;
        EXPECT_EQ(ReadmeExamples(sub), examples) << "README section of lunfs " << sub;
        const bool needs_mount = sub != "discover" && sub != "mount";
        if (needs_mount) {
            ASSERT_EQ(Shell(mount_first).exit_code, 0) << sub;
        }
        for (const std::string& example : examples) {
            const bool watch = example.find("--watch") != std::string::npos;
            const std::string command =
                watch ? "timeout 2 " + local(example) + " </dev/null" : local(example);
            CommandResult r = Shell(command);
            EXPECT_EQ(r.exit_code, watch ? 124 : 0) << command << "\n" << r.output;
            if (watch) {
                EXPECT_NE(r.output.find(lab.Url(1)), std::string::npos) << r.output;
            }
            if (sub == "mount") {
                EXPECT_EQ(Shell(unmount).exit_code, 0) << example;
            }
        }
        if (needs_mount && sub != "unmount") {
            EXPECT_EQ(Shell(unmount).exit_code, 0) << sub;
        }
        EXPECT_FALSE(Mounted(Mp())) << sub;
    }
    EXPECT_EQ(ReadFileRange(dir_.path() + "/backup.img", 0, 1 << 20),
              ReadFileRange(dir_.path() + "/disk.img", 0, 1 << 20));
}

TEST_F(OpsToolsTest, TheManPageRendersEverySubcommandWithoutWarnings) {
    const std::string page = dir_.path() + "/lunfs.1";
    ASSERT_EQ(Shell(Lunfs() + " man > " + page).exit_code, 0);
    CommandResult warnings = Shell("MANWIDTH=100 man --warnings -l " + page + " 2>&1 >/dev/null");
    EXPECT_EQ(warnings.output, "");
    // Whitespace collapsed, so that line breaks do not matter.
    const std::string text = std::regex_replace(
        Shell("MANWIDTH=100 man -l " + page + " 2>/dev/null").output, std::regex("\\s+"), " ");
    for (const char* s : {"lunfs discover [options] PORTAL...", "lunfs mount [options]",
                          "--queue-depth N", "(default: 64)", "lunfs status --watch /mnt/san",
                          "lunfs copy disk.img /mnt/san/lun1", "MOUNT HELPER"}) {
        EXPECT_NE(text.find(s), std::string::npos) << s << "\n" << text;
    }
    for (const std::string sub : {"discover", "mount", "status", "copy", "path", "unmount"}) {
        CommandResult help = Shell(Lunfs() + " " + sub + " --help");
        EXPECT_EQ(help.exit_code, 0) << sub;
    }
}

}  // namespace
}  // namespace lunfs::test
