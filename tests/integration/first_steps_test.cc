// A newcomer's first minutes: a second mount where one already is, the same LUN mounted twice
// with caches, the command line's messages for typos, logs on a host without syslog, the demo
// run twice and stopped, and the README naming what the program has.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "tests/integration/ops_helpers.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;
using FirstStepsTest = IntegrationTest;

int MountsAt(const std::string& mountpoint) {
    const std::string mounts = ReadText("/proc/mounts");
    int n = 0;
    for (size_t at = mounts.find(" " + mountpoint + " "); at != std::string::npos;
         at = mounts.find(" " + mountpoint + " ", at + 1)) {
        ++n;
    }
    return n;
}

TEST_F(FirstStepsTest, ASecondMountOnAMountpointThatHoldsOneIsRefused) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount first(Mp(), {lab.Url()});
    ASSERT_TRUE(first.ok()) << first.result().output;
    UnmountGuard guard(Mp());
    const CommandResult again = Shell(Lunfs() + " mount --log-file " + dir_.path() + "/again.log " +
                                      Mp() + " " + lab.Url());
    EXPECT_EQ(again.exit_code, 2);
    EXPECT_EQ(again.output, "lunfs: " + Mp() + " already holds a lunfs mount (pid " +
                                std::to_string(first.Pid()) + "): unmount it first (lunfs " +
                                "unmount " + Mp() + ") or choose another directory\n");
    EXPECT_EQ(MountsAt(Mp()), 1);
}

TEST_F(FirstStepsTest, TheSameLunElsewhereIsRefusedWhileACacheIsInvolvedUnlessSharedIsSaid) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    const std::string other = dir_.path() + "/other";
    auto mount_other = [&](const std::string& args) {
        mkdir(other.c_str(), 0755);
        return Shell(Lunfs() + " mount --log-file " + other + ".log " + args + " " + other + " " +
                     lab.Url());
    };
    UnmountGuard guard(other);
    {
        Mount first(Mp(), {lab.Url()});  // --cache read, the default
        ASSERT_TRUE(first.ok()) << first.result().output;
        const std::string identity = StatsJson(first)["luns"][0]["identity"];
        for (const std::string args : {"", "--cache none"}) {
            const CommandResult r = mount_other(args);
            EXPECT_EQ(r.exit_code, 2) << args;
            EXPECT_EQ(r.output,
                      "lunfs: lun1: LUN " + identity + " is already mounted as lun1 on " + Mp() +
                          " (lunfs pid " + std::to_string(first.Pid()) +
                          ", --cache read); two lunfs daemons with a cache on one LUN serve each "
                          "other's overwritten data: unmount it, or mount both with --cache none "
                          "(or add --shared-lun if something above coordinates them)\n")
                << args;
            EXPECT_FALSE(Mounted(other));
        }
        const CommandResult shared = mount_other("--shared-lun");
        EXPECT_EQ(shared.exit_code, 0) << shared.output;
        EXPECT_EQ(Shell(Lunfs() + " unmount " + other).exit_code, 0);
    }
    Mount uncached(Mp(), {lab.Url()}, "--cache none");
    ASSERT_TRUE(uncached.ok()) << uncached.result().output;
    const CommandResult both_none = mount_other("--cache none");
    EXPECT_EQ(both_none.exit_code, 0) << both_none.output;
    EXPECT_EQ(Shell(Lunfs() + " unmount " + other).exit_code, 0);
}

// A daemon that does not answer (stopped here) cannot say which LUN it serves: a new mount on
// another LUN is not held up by it (its control file is read with a bound) and says in its log
// which mount it could not check.
TEST_F(FirstStepsTest, AMountWhoseDaemonDoesNotAnswerIsNamedNotWaitedFor) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    LabOptions second_options;
    Lab second(LabDir("second"), second_options);
    ASSERT_TRUE(second.ok()) << second.error();
    const std::string other = dir_.path() + "/other";
    mkdir(other.c_str(), 0755);
    UnmountGuard guard(other);
    Mount first(Mp(), {lab.Url()});
    ASSERT_TRUE(first.ok()) << first.result().output;
    const int pid = first.Pid();
    ASSERT_GT(pid, 0);
    ASSERT_EQ(kill(pid, SIGSTOP), 0);
    const auto start = std::chrono::steady_clock::now();
    const CommandResult r = Shell("timeout 60 " + Lunfs() + " mount --log-file " + other + ".log " +
                                  other + " " + second.Url());
    const double took = Ms(std::chrono::steady_clock::now() - start);
    kill(pid, SIGCONT);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_LT(took, 20000) << "the mount waited for the stopped daemon";
    EXPECT_NE(ReadText(other + ".log")
                  .find("cannot tell which LUNs the lunfs mount on " + Mp() +
                        " serves: its daemon does not answer"),
              std::string::npos);
    EXPECT_EQ(Shell(Lunfs() + " unmount " + other).exit_code, 0);
}

TEST_F(FirstStepsTest, CommandLineMistakesGetOneLineSayingWhatToTypeAndExitTwo) {
    const std::string L = Lunfs();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"",
         "give a command: discover, mount, status, copy, path, reservation or unmount (see "
         "lunfs --help)"},
        {"mout /mnt/san iscsi://192.0.2.10/iqn.x/1",
         "unknown command 'mout' (did you mean 'mount'?)"},
        {"stauts /mnt/san", "unknown command 'stauts' (did you mean 'status'?)"},
        {"mount --polcy failover /mnt/san iscsi://192.0.2.10/iqn.x/1",
         "unknown option '--polcy' for lunfs mount (did you mean '--policy'?)"},
        {"discover --jsn iscsi://192.0.2.10",
         "unknown option '--jsn' for lunfs discover (did you mean '--json'?)"},
        {"discover http://127.0.0.1:3260",
         "'http://127.0.0.1:3260' is not an iscsi:// URL (use iscsi://127.0.0.1:3260)"},
        {"mount /mnt/san http://192.0.2.10/iqn.x/1",
         "'http://192.0.2.10/iqn.x/1' is not an iscsi:// URL (use iscsi://192.0.2.10/iqn.x/1)"},
        {"discover --timeout 700 iscsi://192.0.2.10",
         "--timeout: must be a whole number from 1 to 600, not '700' (see lunfs discover "
         "--help)"},
        {"status", "lunfs status needs MOUNTPOINT (see lunfs status --help)"},
        {"iscsi://192.0.2.10/iqn.x/1 /mnt/san -o polcy=failover",
         "unknown mount option 'polcy' (did you mean 'policy'?)"},
    };
    for (const auto& [args, message] : cases) {
        const CommandResult r = Shell(L + " " + args + " </dev/null");
        EXPECT_EQ(r.exit_code, 2) << args;
        EXPECT_EQ(r.output, "lunfs: " + message + "\n") << args;
    }
    const std::string help = Shell(L + " discover --help").output;
    EXPECT_NE(help.find("--timeout S=10"), std::string::npos) << help;
    EXPECT_EQ(help.find("INT"), std::string::npos) << help;
}

TEST_F(FirstStepsTest, TwoLunsThatWouldShareAFileNameAreToldToUseTheNameOption) {
    Lab a(LabDir("a"));
    Lab b(LabDir("b"));
    ASSERT_TRUE(a.ok() && b.ok()) << a.error() << b.error();
    Mount both(Mp(), {a.Url(), b.Url()});  // LUN 1 of two targets: lun1 twice
    EXPECT_EQ(both.result().exit_code, 1);
    EXPECT_EQ(both.result().output,
              "lunfs: two LUNs would both be named 'lun1'; name them with --name, once per LUN "
              "in URL order\n");
}

TEST_F(FirstStepsTest, WithoutSyslogTheDaemonLogsToAFileItNamesAndStatusShows) {
    if (access("/dev/log", F_OK) == 0) GTEST_SKIP() << "this host has /dev/log";
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    mkdir(Mp().c_str(), 0755);
    UnmountGuard guard(Mp());
    std::string name = Mp().substr(1);
    std::replace(name.begin(), name.end(), '/', '-');
    const std::string log = "/var/log/lunfs/" + name + ".log";
    struct Remove {
        std::string path;
        ~Remove() { std::remove(path.c_str()); }
    } remove{log};
    const CommandResult r = Shell(Lunfs() + " mount " + Mp() + " " + lab.Url());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output, "lunfs: no syslog here (/dev/log): the daemon logs to " + log + "\n");
    const CommandResult status = Shell(Lunfs() + " status " + Mp());
    EXPECT_NE(status.output.find("log: " + log + "\n"), std::string::npos) << status.output;
    EXPECT_EQ(Json(ReadText(Mp() + "/.lunfs/stats"))["log"], log);
    EXPECT_EQ(Shell(Lunfs() + " unmount " + Mp()).exit_code, 0);
    const std::string text = ReadText(log);
    EXPECT_NE(text.find("mounted 1 LUN(s) on " + Mp()), std::string::npos) << text;
    EXPECT_NE(text.find("unmounted " + Mp()), std::string::npos) << text;
}

}  // namespace
}  // namespace lunfs::test
