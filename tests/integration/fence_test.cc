// A re-sent write against a target that still holds its first copy. The LUN sits on a HoldDisk:
// the first copy of write X is held in the target's backend (its worker blocked in the write,
// as behind a slow disk), longer than any timer of lunfs. X becomes overdue on path A and is
// re-sent on B; a newer write Y to the same bytes completes; then the disk lets the first copy
// of X go. Whatever the target still held of X must not land over Y: what the disk holds at the
// end is Y.
#include <fcntl.h>
#include <stdlib.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <future>
#include <thread>

#include "tests/integration/fio.h"
#include "tests/integration/harness.h"
#include "tests/integration/hold_disk.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kHoldDiskSize = 64 << 20;
constexpr uint64_t kStaleAt = 8 << 20;
constexpr size_t kStaleLength = 64 << 10;  // one SCSI command, one write of the disk

// The LUN file, open for the whole scenario: closing it, like fsync, sends SYNCHRONIZE CACHE,
// which the disk would answer only after the held write (a FUSE fsync waits for the writes in
// progress on its file), so neither happens while the disk holds one.
class LunFile {
  public:
    LunFile(const std::string& path, bool direct)
        : fd_(open(path.c_str(), O_WRONLY | (direct ? O_DIRECT : 0))) {
        if (posix_memalign(&buf_, 4096, kStaleLength) != 0) buf_ = nullptr;
    }
    ~LunFile() {
        if (fd_ >= 0) close(fd_);
        std::free(buf_);
    }
    bool ok() const { return fd_ >= 0 && buf_; }
    bool Write(const std::vector<char>& data) {  // kStaleLength bytes at kStaleAt
        std::memcpy(buf_, data.data(), kStaleLength);
        return pwrite(fd_, buf_, kStaleLength, kStaleAt) == static_cast<ssize_t>(kStaleLength);
    }

  private:
    int fd_;
    void* buf_ = nullptr;
};

// Lets the disk's held writes go when a test ends, before anything waits for them.
struct ReleaseAtEnd {
    HoldDisk& disk;
    ~ReleaseAtEnd() { disk.Release(); }
};

template <typename Done>
bool WaitFor(Done done, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
    return done();
}

class FenceTest : public IntegrationTest {
  protected:
    enum class Fault { kNone, kBlackHole };

    // The sequence of the file's comment, with the mount's `args`; with kBlackHole, path A is
    // also black-holed once the target holds X, so that A cannot log in again. `cached`: the
    // writes complete in lunfs's write-back cache and reach the LUN by themselves.
    void RunStaleCopyScenario(const std::string& args, Fault fault, bool cached) {
        HoldDisk disk(dir_.path() + "/disk", kHoldDiskSize);
        ASSERT_TRUE(disk.ok()) << disk.error();
        LabOptions lo;
        lo.portals = 2;
        lo.size = "64M";
        lo.backing = disk.File();
        Lab lab(LabDir(), lo);
        ASSERT_TRUE(lab.ok()) << lab.error();
        Mount mount(Mp(), lab.Urls(), "--policy failover " + args);
        ASSERT_TRUE(mount.ok()) << mount.result().output;
        ASSERT_TRUE(WaitAllPathsActive(mount, 20s)) << StatsJson(mount).dump();
        const std::vector<char> x = RandomBytes(kStaleLength, 71);
        const std::vector<char> y = RandomBytes(kStaleLength, 72);
        ASSERT_TRUE(WriteDirect(mount.File(), kStaleAt, RandomBytes(kStaleLength, 70)));
        auto on_disk = [&](const std::vector<char>& data) {
            return ReadFileRange(disk.Store(), kStaleAt, kStaleLength) == data;
        };
        auto on_disk_within = [&](const std::vector<char>& data, std::chrono::seconds limit) {
            return WaitFor([&] { return on_disk(data); }, limit);
        };

        LunFile lun(mount.File(), !cached);
        ASSERT_TRUE(lun.ok());
        std::future<bool> x_written;  // destroyed after the release below
        ReleaseAtEnd release{disk};
        ASSERT_TRUE(disk.Hold(kStaleAt, kStaleLength, 1));
        const auto start = std::chrono::steady_clock::now();
        x_written = std::async(std::launch::async, [&] { return lun.Write(x); });
        ASSERT_TRUE(WaitFor([&] { return disk.Held() == 1; }, 15s))
            << "the first copy of X never reached the disk";
        std::unique_ptr<PortFault> hole;
        if (fault == Fault::kBlackHole) {
            hole = std::make_unique<PortFault>(std::vector<int>{lab.Port(0)}, true);
            ASSERT_TRUE(hole->ok());
        }
        // Overdue on A, re-sent and completed on B.
        ASSERT_TRUE(on_disk_within(x, 20s)) << "X was not re-sent";
        ASSERT_EQ(x_written.wait_for(5s), std::future_status::ready) << "X never completed";
        ASSERT_TRUE(x_written.get());
        Report("x_ms", Ms(std::chrono::steady_clock::now() - start));
        ASSERT_EQ(disk.Held(), 1) << "the target no longer holds A's copy of X";

        ASSERT_TRUE(lun.Write(y));
        ASSERT_TRUE(on_disk_within(y, 20s)) << "Y never reached the LUN";
        Report("y_ms", Ms(std::chrono::steady_clock::now() - start));

        // The target's backend finishes A's copy of X now, after Y.
        ASSERT_TRUE(disk.Release());
        ASSERT_TRUE(WaitFor([&] { return disk.Held() == 0; }, 5s));
        std::this_thread::sleep_for(500ms);
        EXPECT_TRUE(on_disk(y)) << "the first copy of X, which the target held, landed over the "
                                   "newer Y";
        hole.reset();
        const nlohmann::json st = StatsJson(mount);
        EXPECT_GE(st["luns"][0]["paths"][0]["path_failures"].get<int>(), 1) << st.dump();
        EXPECT_GT(st["luns"][0]["paths"][1]["bytes_written"].get<uint64_t>(), 0u) << st.dump();
    }
};

// The network is fine, the target is slow: X is overdue on A only because the target's disk
// holds it, and A logs in again at once.
TEST_F(FenceTest, WriteHeldByTheTargetNeverLandsOverNewerData) {
    RunStaleCopyScenario("--cache none", Fault::kNone, false);
}

// A is cut off while the target holds X, so A never logs in again and nothing but a timer
// releases Y.
TEST_F(FenceTest, WriteHeldByTheTargetOfABlackHoledPathNeverLandsOverNewerData) {
    RunStaleCopyScenario("--cache none", Fault::kBlackHole, false);
}

// The same through the write-back cache: X and Y reach the LUN when the cache writes them back.
TEST_F(FenceTest, WriteBackFlushHeldByTheTargetNeverLandsOverNewerData) {
    RunStaleCopyScenario("--cache writeback", Fault::kNone, true);
}

}  // namespace
}  // namespace lunfs::test
