// The fault suite: one LUN on several portals of a real tgtd, a real mount, and fio's verified
// random writes (O_DIRECT, 4 jobs at iodepth 16, 512 B to 128 KiB on a 4 KiB-block LUN) while a
// path or the target misbehaves. Every case asks for no I/O error, no verification error, no
// failed request, and the data read back through the mount equal to the backing file; the longest
// I/O and the longest time without any completion are reported as figures, not asserted.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/fio.h"
#include "tests/integration/harness.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;

class FaultTest : public IntegrationTest {
  protected:
    // A 4 KiB-block lab with `portals` portals, mounted over all of them.
    void Start(int portals, const std::string& mount_args = "") {
        LabOptions lo;
        lo.portals = portals;
        lo.block_size = 4096;
        lab_ = std::make_unique<Lab>(LabDir(), lo);
        ASSERT_TRUE(lab_->ok()) << lab_->error();
        mount_ = std::make_unique<Mount>(Mp(), lab_->Urls(), mount_args);
        ASSERT_TRUE(mount_->ok()) << mount_->result().output;
    }

    // fio for `seconds` in the background; `fault` runs meanwhile on this thread.
    template <typename Fault>
    FioOutcome FioDuring(int seconds, Fault fault) {
        FioJob job;
        job.file = mount_->File();
        job.dir = dir_.path();
        job.seconds = seconds;
        auto fio = std::async(std::launch::async, [job] { return RunFio(job); });
        fault();
        return fio.get();
    }

    // fio for `seconds` while the target is frozen (SIGSTOP) from 2 s in, for `hold`.
    FioOutcome FioWithTargetFrozen(int seconds, std::chrono::seconds hold) {
        bool frozen = false, thawed = false;
        FioOutcome fio = FioDuring(seconds, [&] {
            std::this_thread::sleep_for(2s);
            frozen = lab_->Freeze();
            std::this_thread::sleep_for(hold);
            thawed = lab_->Thaw();
        });
        EXPECT_TRUE(frozen && thawed);
        return fio;
    }

    // What every case checks once fio is done: fio clean, no request failed, and what the mount
    // reads equal to what the target stored.
    void ExpectCleanRun(const FioOutcome& fio) {
        EXPECT_TRUE(fio.ok()) << fio.Summary() << "\n" << fio.run.output;
        Report("max_io_ms", fio.max_latency_ms);
        Report("max_gap_ms", fio.max_gap_ms);
        Report("ios", static_cast<double>(fio.ios));
        const nlohmann::json st = StatsJson(*mount_);
        ASSERT_FALSE(st.is_discarded());
        EXPECT_EQ(st["luns"][0]["failed_requests"], 0) << st.dump();
        EXPECT_EQ(CompareWithBacking(mount_->File(), lab_->Backing(), 0, FioJob::Span()), "");
    }

    std::unique_ptr<Lab> lab_;  // destroyed after the mount
    std::unique_ptr<Mount> mount_;
};

// ---- One path of four misbehaves ------------------------------------------------------------

enum class PathFault { kBlackholed, kReset, kFlapping, kSlowed };

const char* Name(PathFault f) {
    switch (f) {
        case PathFault::kBlackholed:
            return "Blackholed";
        case PathFault::kReset:
            return "Reset";
        case PathFault::kFlapping:
            return "Flapping";
        case PathFault::kSlowed:
            return "Slowed";
    }
    return "";
}
void PrintTo(PathFault f, std::ostream* out) { *out << Name(f); }

class PathFaultTest : public FaultTest, public ::testing::WithParamInterface<PathFault> {};

TEST_P(PathFaultTest, FioSeesNoErrorAndThePathRejoins) {
    Start(4);
    const int port = lab_->Port(1);
    std::string fault_error;
    const FioOutcome fio = FioDuring(12, [&] {
        std::this_thread::sleep_for(2s);
        switch (GetParam()) {
            case PathFault::kBlackholed:
            case PathFault::kReset: {
                PortFault fault({port}, GetParam() == PathFault::kBlackholed);
                if (!fault.ok()) fault_error = "nft failed";
                std::this_thread::sleep_for(6s);
                break;
            }
            case PathFault::kFlapping: {
                PortFlapper flapper({port}, 1500ms, 1500ms);
                std::this_thread::sleep_for(8s);
                if (!flapper.ok()) fault_error = "nft failed";
                Report("flaps", flapper.flaps());
                break;
            }
            case PathFault::kSlowed: {
                PortSlow slow({port}, 2000);  // 2 Mbit/s: a crawl next to loopback
                if (!slow.ok()) fault_error = slow.error();
                std::this_thread::sleep_for(8s);
                break;
            }
        }
    });
    ASSERT_EQ(fault_error, "");
    ExpectCleanRun(fio);
    const nlohmann::json st = StatsJson(*mount_);
    if (GetParam() != PathFault::kSlowed) {
        EXPECT_GE(st["luns"][0]["paths"][1]["path_failures"].get<int>(), 1) << st.dump();
    }
    EXPECT_TRUE(WaitAllPathsActive(*mount_, 70s)) << StatsJson(*mount_).dump();
}

INSTANTIATE_TEST_SUITE_P(Faults, PathFaultTest,
                         ::testing::Values(PathFault::kBlackholed, PathFault::kReset,
                                           PathFault::kFlapping, PathFault::kSlowed),
                         [](const ::testing::TestParamInfo<PathFault>& p) {
                             return std::string(Name(p.param));
                         });

// ---- The target misbehaves ------------------------------------------------------------------

TEST_F(FaultTest, FrozenTargetStallsIoAndResumesItWithoutErrors) {
    Start(2);
    const FioOutcome fio = FioWithTargetFrozen(12, 4s);
    ASSERT_FALSE(HasFailure());
    ExpectCleanRun(fio);
    EXPECT_TRUE(WaitAllPathsActive(*mount_, 70s)) << StatsJson(*mount_).dump();
}

// With --command-timeout 1, libiscsi's own timeout fires on a frozen target before anything else
// notices: the timed-out commands are handed back (and re-sent) only once their session is torn
// down (docs/ghost-writes.md, rule 1), and fio's verified I/O sees no error.
TEST_F(FaultTest, CommandsTimedOutByLibiscsiAreResentOnlyAfterTheirSessionIsTornDown) {
    Start(2, "--command-timeout 1");
    const FioOutcome fio = FioWithTargetFrozen(10, 3s);
    ASSERT_FALSE(HasFailure());
    ExpectCleanRun(fio);
    // The first re-send of a timed-out command comes after its path's teardown. Log lines read
    // "[time] [lunfs] [level] PATH: message"; path_of gives PATH when the message starts so.
    auto path_of = [](const std::string& line, const std::string& message) -> std::string {
        const size_t at = line.find(": " + message);
        const size_t start = line.find("] iscsi://");
        return at == std::string::npos || start == std::string::npos || start > at
                   ? ""
                   : line.substr(start + 2, at - start - 2);
    };
    const std::string log = ReadText(Mp() + ".log");
    std::istringstream lines(log);
    std::set<std::string> torn_down;
    bool checked = false;
    for (std::string line; !checked && std::getline(lines, line);) {
        if (std::string p = path_of(line, "session torn down; handing back"); !p.empty()) {
            torn_down.insert(p);
        }
        const std::string retried = path_of(line, "retrying extent at ");
        if (!retried.empty() && line.find("timed out") != std::string::npos) {
            EXPECT_TRUE(torn_down.count(retried)) << line;
            checked = true;
        }
    }
    EXPECT_TRUE(checked) << "no command timed out:\n" << log;
}

// A read on a slow path: its command is acknowledged at once, then its data trickles in. When
// the path is black-holed meanwhile, the initiator has no bytes of its own unacknowledged, so
// TCP's --unacked-timeout alone would never fire, and the extent's deadline (ten times the
// path's latency: about 5 s here) would be what finds it. The NOP-Out a quiet busy path sends
// gives TCP a byte to have acknowledged, and the read is re-sent on the other path in about a
// second.
TEST_F(FaultTest, BlackHoledPathWithOnlyAReadInFlightIsFoundByItsNopOut) {
    Start(2, "--policy failover --cache none");
    const int port = lab_->Port(0);  // the active path
    // 4 Mbit/s: a 256 KiB read takes about 0.5 s, well under the deadline's 1 s floor.
    PortSlow slow({port}, 4000);
    ASSERT_TRUE(slow.ok()) << slow.error();
    constexpr size_t kBytes = 256 << 10;
    auto timed_read = [&](uint64_t at) {
        const auto start = std::chrono::steady_clock::now();
        std::vector<char> data;
        EXPECT_TRUE(ReadDirect(mount_->File(), at, kBytes, data)) << strerror(errno);
        return Ms(std::chrono::steady_clock::now() - start);
    };
    double warm_ms = 0;  // the path's latency
    for (int i = 0; i < 3; ++i) warm_ms = std::max(warm_ms, timed_read(i * kBytes));
    Report("slow_read_ms", warm_ms);
    ASSERT_GT(warm_ms, 300) << "the cap on the active path did not slow its reads";
    // The slow path is still the one in use: none of those reads overran its deadline.
    ASSERT_EQ(StatsJson(*mount_)["luns"][0]["paths"][0]["path_failures"].get<int>(), 0);
    double faulted_ms = 0;
    bool fault_ok = false;
    {
        auto reader = std::async(std::launch::async, [&] { return timed_read(8 * kBytes); });
        std::this_thread::sleep_for(400ms);
        PortFault fault({port}, /*drop=*/true);
        fault_ok = fault.ok();
        faulted_ms = reader.get();
    }
    ASSERT_TRUE(fault_ok);
    Report("faulted_read_ms", faulted_ms);
    EXPECT_LT(faulted_ms, 4000) << ReadText(Mp() + ".log");
    const nlohmann::json st = StatsJson(*mount_);
    EXPECT_GE(st["luns"][0]["paths"][0]["path_failures"].get<int>(), 1) << st.dump();
    EXPECT_EQ(st["luns"][0]["failed_requests"], 0) << st.dump();
}

TEST_F(FaultTest, RestartedTargetServesTheSameLunAndIoGoesOn) {
    Start(2);
    CommandResult restart;
    const FioOutcome fio = FioDuring(12, [&] {
        std::this_thread::sleep_for(2s);
        restart = lab_->Restart(2, /*kill=*/true);
    });
    ASSERT_EQ(restart.exit_code, 0) << restart.output;
    ExpectCleanRun(fio);
    EXPECT_TRUE(WaitAllPathsActive(*mount_, 70s)) << StatsJson(*mount_).dump();
}

TEST_F(FaultTest, LunResetsByAnotherInitiatorAreRetriedNotFailed) {
    Start(2);
    std::vector<CommandResult> resets;
    const FioOutcome fio = FioDuring(10, [&] {
        for (int i = 0; i < 3; ++i) {
            std::this_thread::sleep_for(2s);
            resets.push_back(lab_->LunReset());
        }
    });
    for (const CommandResult& r : resets) EXPECT_EQ(r.exit_code, 0) << r.output;
    ExpectCleanRun(fio);
    // Each reset reached lunfs as a UNIT ATTENTION (or aborted commands), which it retried.
    int retries = 0;
    const nlohmann::json st = StatsJson(*mount_);
    for (const auto& p : st["luns"][0]["paths"]) retries += p["retries"].get<int>();
    EXPECT_GE(retries, 3) << st.dump();
    Report("retries", retries);
}

// ---- The daemon dies --------------------------------------------------------------------

// The pid of the fusermount3 helper that unmounts `mountpoint` when its daemon dies; 0 if none.
int AutoUnmountHelper(const std::string& mountpoint) {
    CommandResult r = Shell(
        "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null | "
        "grep -q '^fusermount3 .* " +
        mountpoint + " *$' && basename $p; done");
    return std::atoi(r.output.c_str());
}

bool Mounted(const std::string& mountpoint) {
    return Shell("grep -q ' " + mountpoint + " ' /proc/mounts").exit_code == 0;
}

TEST_F(FaultTest, KilledDaemonLeavesEnotconnThenItsMountGoesAndTheLunMountsAgain) {
    LabOptions lo;
    lo.portals = 2;
    lab_ = std::make_unique<Lab>(LabDir(), lo);
    ASSERT_TRUE(lab_->ok()) << lab_->error();
    {
        Mount mount(Mp(), lab_->Urls());
        ASSERT_TRUE(mount.ok()) << mount.result().output;
        const int pid = mount.Pid();
        ASSERT_GT(pid, 0);
        EXPECT_EQ(lab_->Sessions(), 3);  // two paths and the fence's control session
        // Hold the auto-unmount helper back for a moment, so that the dead mount can be seen.
        // (fusermount3 may still be turning itself into that helper when the mount returns.)
        int helper = 0;
        for (int i = 0; i < 100 && helper == 0; ++i) {
            helper = AutoUnmountHelper(Mp());
            if (helper == 0) std::this_thread::sleep_for(50ms);
        }
        ASSERT_GT(helper, 0) << "no auto_unmount helper for " << Mp();
        ASSERT_EQ(kill(helper, SIGSTOP), 0);
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        for (int i = 0; i < 100 && kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(50ms);
        struct stat st;
        errno = 0;
        EXPECT_NE(stat(mount.File().c_str(), &st), 0);
        EXPECT_EQ(errno, ENOTCONN);
        ASSERT_EQ(kill(helper, SIGCONT), 0);
        const auto start = std::chrono::steady_clock::now();
        while (Mounted(Mp()) && std::chrono::steady_clock::now() - start < 10s) {
            std::this_thread::sleep_for(50ms);
        }
        EXPECT_FALSE(Mounted(Mp())) << "auto_unmount left the dead mount in place";
        Report("auto_unmount_ms", Ms(std::chrono::steady_clock::now() - start));
    }
    // The target dropped the dead daemon's sessions, and the LUN mounts again.
    const auto start = std::chrono::steady_clock::now();
    while (lab_->Sessions() != 0 && std::chrono::steady_clock::now() - start < 10s) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(lab_->Sessions(), 0);
    Mount again(Mp(), lab_->Urls());
    ASSERT_TRUE(again.ok()) << again.result().output;
    const std::vector<char> data = RandomBytes(1 << 20, 41);
    EXPECT_TRUE(WriteDirect(again.File(), 0, data));
    EXPECT_EQ(ReadFileRange(lab_->Backing(), 0, data.size()), data);
}

// ---- The lab itself -----------------------------------------------------------------------

// libiscsi's own multipath conformance tests pass against the lab target: a later failure of
// lunfs on this target is lunfs's.
TEST_F(FaultTest, LibiscsiMultipathConformanceTestsPassAgainstTheLab) {
    LabOptions lo;
    lo.portals = 2;
    lab_ = std::make_unique<Lab>(LabDir(), lo);
    ASSERT_TRUE(lab_->ok()) << lab_->error();
    for (const char* test : {"SCSI.MultipathIO.Simple", "SCSI.MultipathIO.Reset"}) {
        CommandResult r = Shell(std::string("iscsi-test-cu --fail --dataloss --test=") + test +
                                " " + lab_->Url(0) + " " + lab_->Url(1));
        EXPECT_EQ(r.exit_code, 0) << r.output;
        // CUnit's summary: tests Total Ran Passed Failed.
        EXPECT_NE(r.output.find("tests      1      1      1      0"), std::string::npos)
            << r.output;
    }
}

}  // namespace
}  // namespace lunfs::test
