// Ordering end to end: a re-sent write never overtaken by its stale copy, fsync reaching the
// target only after the writes it covers were acknowledged (seen on the wire by tshark), and many
// processes writing pieces of one block without losing each other's bytes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "tests/integration/capture.h"
#include "tests/integration/fio.h"
#include "tests/integration/harness.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;
using OrderingTest = IntegrationTest;

// A write stalls on path A (black-holed: its bytes sit in this host's socket buffer), is re-sent
// on path B, and a newer write to the same blocks completes on B; when A heals, nothing of the
// stale copy may reach the LUN.
TEST_F(OrderingTest, StaleCopyOfAReissuedWriteNeverOvertakesNewerData) {
    LabOptions lo;
    lo.portals = 2;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    // failover: every command goes on A while A lives.
    Mount mount(Mp(), lab.Urls(), "--policy failover");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    constexpr uint64_t kAt = 8 << 20;
    const std::vector<char> older = RandomBytes(4 << 20, 31);
    const std::vector<char> newer = RandomBytes(4 << 20, 32);
    ASSERT_TRUE(WriteDirect(mount.File(), kAt, RandomBytes(4 << 20, 30)));
    {
        PortFault fault({lab.Port(0)}, true);
        ASSERT_TRUE(fault.ok());
        const auto start = std::chrono::steady_clock::now();
        ASSERT_TRUE(WriteDirect(mount.File(), kAt, older));  // stalls on A, done on B
        Report("reissue_ms", Ms(std::chrono::steady_clock::now() - start));
        ASSERT_TRUE(WriteDirect(mount.File(), kAt, newer));
        EXPECT_EQ(ReadFileRange(lab.Backing(), kAt, newer.size()), newer);
    }
    ASSERT_TRUE(WaitAllPathsActive(mount, 70s)) << StatsJson(mount).dump();
    std::this_thread::sleep_for(3s);  // time for anything left over to arrive
    EXPECT_EQ(ReadFileRange(lab.Backing(), kAt, newer.size()), newer);
    const nlohmann::json st = StatsJson(mount);
    // A was torn down (path_failures counts a reset for an overdue command too): by its overdue
    // command, or by its connection's unacknowledged data.
    EXPECT_GE(st["luns"][0]["paths"][0]["path_failures"].get<int>(), 1) << st.dump();
    EXPECT_GT(st["luns"][0]["paths"][1]["bytes_written"].get<uint64_t>(), 0u) << st.dump();
}

// The same with path A slowed rather than cut off: the stale copy of the first write is not in
// A's socket but in the queue of the link (a tc qdisc here), which closing the socket does not
// empty. It reaches the target after the newer data was written on B.
TEST_F(OrderingTest, StaleCopyQueuedOnASlowLinkNeverOvertakesNewerData) {
    LabOptions lo;
    lo.portals = 2;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls(), "--policy failover");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    constexpr uint64_t kAt = 8 << 20;
    const std::vector<char> older = RandomBytes(192 << 10, 33);
    const std::vector<char> newer = RandomBytes(192 << 10, 34);
    ASSERT_TRUE(WriteDirect(mount.File(), kAt, RandomBytes(192 << 10, 35)));
    {
        PortSlow slow({lab.Port(0)}, 800);  // 100 KB/s: the write needs about 2 s on A
        ASSERT_TRUE(slow.ok()) << slow.error();
        ASSERT_TRUE(WriteDirect(mount.File(), kAt, older));  // overdue on A, done on B
        ASSERT_TRUE(WriteDirect(mount.File(), kAt, newer));
        std::this_thread::sleep_for(4s);  // A's queue drains meanwhile
    }
    EXPECT_EQ(ReadFileRange(lab.Backing(), kAt, newer.size()), newer);
    const nlohmann::json st = StatsJson(mount);
    // A was torn down while the stale copy sat in the link's queue, by the overdue write or by
    // its connection's unacknowledged data (a 64 KiB segment takes 0.65 s at this rate),
    // whichever comes first on this host, and the write was retried off it.
    const nlohmann::json& a = st["luns"][0]["paths"][0];
    EXPECT_GE(a["path_failures"].get<int>(), 1) << st.dump();
    EXPECT_GE(a["retries"].get<int>(), 1) << st.dump();
}

constexpr uint8_t kScsiCommand = 0x01;
constexpr uint8_t kScsiResponse = 0x21;
constexpr uint8_t kLogoutRequest = 0x06;
constexpr int kWrite16 = 0x8a;
constexpr int kSyncCache16 = 0x91;

// Mounts, writes eight rounds of four 128 KiB writes each followed by fsync or fdatasync, closes
// and unmounts.
void WriteRoundsWithFsync(const std::string& mountpoint, const std::vector<std::string>& urls) {
    Mount mount(mountpoint, urls);
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    const int fd = open(mount.File().c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    const std::vector<char> data = RandomBytes(128 << 10, 51);
    for (int round = 0; round < 8; ++round) {
        for (int i = 0; i < 4; ++i) {
            const off_t at = static_cast<off_t>((round * 4 + i) * data.size());
            ASSERT_EQ(pwrite(fd, data.data(), data.size(), at), static_cast<ssize_t>(data.size()));
        }
        ASSERT_EQ(round % 2 ? fdatasync(fd) : fsync(fd), 0);
    }
    ASSERT_EQ(close(fd), 0);
    EXPECT_EQ(mount.Unmount().exit_code, 0);
}

// Eight rounds of four 128 KiB writes (each spread over both paths) and an fsync or fdatasync,
// then close: on the wire, nine SYNCHRONIZE CACHE commands, each sent when no WRITE was
// outstanding on any path and after the writes of its round were answered.
TEST_F(OrderingTest, EveryFsyncSendsSynchronizeCacheAfterTheWritesItCoversWereAcknowledged) {
    LabOptions lo;
    lo.portals = 2;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    // A capture that missed a segment under load is taken again, twice at most.
    std::vector<IscsiPdu> pdus;
    std::string capture_error;
    for (int attempt = 0; attempt < 3; ++attempt) {
        IscsiCapture capture(dir_.path(), lab.Ports());
        ASSERT_TRUE(capture.ok()) << capture.error();
        WriteRoundsWithFsync(Mp(), lab.Urls());
        if (HasFatalFailure()) return;
        pdus = capture.Stop();
        capture_error = capture.error();
        if (capture_error.find("missed") == std::string::npos) break;
    }
    ASSERT_EQ(capture_error, "");

    std::map<std::pair<int, uint32_t>, int> commands;  // (stream, ITT) -> CDB opcode
    std::set<std::pair<int, uint32_t>> writes_outstanding;
    std::set<int> write_streams;
    int syncs = 0, answered_since_sync = 0, logouts = 0;
    for (const IscsiPdu& p : pdus) {
        const std::pair<int, uint32_t> task{p.stream, p.itt};
        logouts += p.opcode == kLogoutRequest;
        if (p.opcode == kScsiCommand) {
            commands[task] = p.cdb_opcode;
            if (p.cdb_opcode == kWrite16) {
                writes_outstanding.insert(task);
                write_streams.insert(p.stream);
            }
            if (p.cdb_opcode == kSyncCache16) {
                ++syncs;
                EXPECT_TRUE(writes_outstanding.empty())
                    << "SYNCHRONIZE CACHE in frame " << p.frame << " with "
                    << writes_outstanding.size() << " WRITE(s) unanswered";
                if (syncs <= 8) {
                    EXPECT_GE(answered_since_sync, 4) << "frame " << p.frame;
                }
                answered_since_sync = 0;
            }
        } else if (p.opcode == kScsiResponse && commands[task] == kWrite16) {
            writes_outstanding.erase(task);
            ++answered_since_sync;
        }
    }
    // Both paths' sessions, and the fence's control session (--fence reservation).
    ASSERT_EQ(logouts, 3) << "the capture does not reach the end of every session";
    EXPECT_EQ(syncs, 9);  // 8 fsync/fdatasync + close
    EXPECT_EQ(write_streams.size(), 2u) << "the writes did not use both paths";
    EXPECT_TRUE(writes_outstanding.empty());
}

// Sixteen processes write their own 300-byte slices of the same two 4 KiB blocks, fifty times
// each, over four paths: every read-modify-write sees the others' bytes, so the last round of
// every writer is what the LUN holds.
TEST_F(OrderingTest, ManyProcessesWritingPiecesOfOneBlockLoseNothing) {
    LabOptions lo;
    lo.portals = 4;
    lo.block_size = 4096;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls());
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    constexpr int kWriters = 16, kRounds = 50;
    constexpr size_t kSlice = 300;
    constexpr off_t kBase = 3 * 4096 + 1700;  // the slices straddle a block boundary
    auto slice = [](int writer, int round) {
        return std::vector<char>(kSlice, static_cast<char>(1 + writer * kRounds + round));
    };
    std::vector<pid_t> children;
    for (int w = 0; w < kWriters; ++w) {
        const pid_t pid = fork();
        if (pid == 0) {
            const int fd = open(mount.File().c_str(), O_WRONLY);
            int bad = fd < 0;
            for (int r = 0; r < kRounds && !bad; ++r) {
                const std::vector<char> bytes = slice(w, r);
                bad = pwrite(fd, bytes.data(), kSlice, kBase + w * static_cast<off_t>(kSlice)) !=
                      static_cast<ssize_t>(kSlice);
            }
            _exit(bad || close(fd) != 0 ? 1 : 0);
        }
        ASSERT_GT(pid, 0);
        children.push_back(pid);
    }
    for (pid_t pid : children) {
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    std::vector<char> expected;
    for (int w = 0; w < kWriters; ++w) {
        const std::vector<char> last = slice(w, kRounds - 1);
        expected.insert(expected.end(), last.begin(), last.end());
    }
    EXPECT_EQ(ReadFileRange(lab.Backing(), kBase, expected.size()), expected);
    EXPECT_EQ(ReadFileRange(mount.File(), kBase, expected.size()), expected);
}

}  // namespace
}  // namespace lunfs::test
