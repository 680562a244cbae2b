// Durability end to end: a write a program was told is stable (O_DSYNC, O_SYNC, RWF_DSYNC) is on
// the target's stable storage before its reply — seen on the wire by tshark — and shutting down
// with I/O in flight answers every request and ends in bounded time.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "tests/integration/capture.h"
#include "tests/integration/harness.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;
using DurabilityTest = IntegrationTest;

constexpr uint8_t kScsiCommand = 0x01;
constexpr uint8_t kScsiResponse = 0x21;
constexpr int kWrite16 = 0x8a;
constexpr int kSyncCache16 = 0x91;
constexpr size_t kWrite = 128 << 10;  // spread over both paths
constexpr int kWrites = 4;

// Each of kWrites writes, made by `write_one(fd, data, offset)` on a handle opened with `flags`,
// must be durable when it returns: every WRITE(16) it sent carries FUA, or a SYNCHRONIZE CACHE
// follows its answers before the next write starts. Checked on the wire, with no fsync or close
// inside the capture.
void ExpectEveryWriteDurable(const std::string& dir, const Lab& lab, const Mount& mount, int flags,
                             const std::function<ssize_t(int, const char*, off_t)>& write_one) {
    const int fd = open(mount.File().c_str(), O_WRONLY | flags);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    void* raw = nullptr;
    ASSERT_EQ(posix_memalign(&raw, 4096, kWrite), 0);
    std::unique_ptr<char, decltype(&free)> data(static_cast<char*>(raw), &free);
    const std::vector<char> bytes = RandomBytes(kWrite, 77);
    std::memcpy(data.get(), bytes.data(), kWrite);
    std::vector<IscsiPdu> pdus;
    {
        static int captures = 0;  // each capture in a directory of its own
        const std::string at = dir + "/capture" + std::to_string(++captures);
        ASSERT_EQ(mkdir(at.c_str(), 0700), 0);
        IscsiCapture capture(at, lab.Ports());
        ASSERT_TRUE(capture.ok()) << capture.error();
        for (int i = 0; i < kWrites; ++i) {
            ASSERT_EQ(write_one(fd, data.get(), static_cast<off_t>(i * kWrite)),
                      static_cast<ssize_t>(kWrite))
                << std::strerror(errno);
            // Marks the end of write i on the wire: the next write's commands come after it.
        }
        pdus = capture.Stop();
        ASSERT_EQ(capture.error(), "");
    }
    close(fd);
    // Per write: its WRITE(16) commands, and whether each was durable when the next began.
    std::map<std::pair<int, uint32_t>, int> commands;
    int writes_seen = 0, unflushed = 0, syncs = 0;
    bool any_without_fua = false;
    for (const IscsiPdu& p : pdus) {
        if (p.opcode == kScsiCommand) {
            commands[{p.stream, p.itt}] = p.cdb_opcode;
            if (p.cdb_opcode == kWrite16) {
                ++writes_seen;
                if (!p.fua) {
                    any_without_fua = true;
                    ++unflushed;
                }
            } else if (p.cdb_opcode == kSyncCache16) {
                ++syncs;
                unflushed = 0;
            }
        }
    }
    std::cout << "durability: " << writes_seen << " WRITE(16), "
              << (any_without_fua ? "some without FUA, " : "all with FUA, ") << syncs
              << " SYNCHRONIZE CACHE\n";
    EXPECT_GE(writes_seen, kWrites);
    EXPECT_EQ(unflushed, 0) << "WRITE(16) without FUA and no SYNCHRONIZE CACHE after it";
    if (any_without_fua) {
        EXPECT_GE(syncs, kWrites) << "a write without FUA was acknowledged before the target's "
                                     "cache was flushed";
    }
}

TEST_F(DurabilityTest, DirectDsyncWritesAreOnStableStorageWhenAcknowledged) {
    LabOptions lo;
    lo.portals = 2;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls(), "--cache none");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    ExpectEveryWriteDurable(
        dir_.path(), lab, mount, O_DIRECT | O_DSYNC,
        [](int fd, const char* d, off_t at) { return pwrite(fd, d, kWrite, at); });
    EXPECT_EQ(mount.Unmount().exit_code, 0);
}

TEST_F(DurabilityTest, SyncWritesAndRwfDsyncWritesAreDurableInEveryCacheMode) {
    LabOptions lo;
    lo.portals = 2;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    for (const char* mode : {"read", "writeback"}) {
        SCOPED_TRACE(mode);
        Mount mount(Mp(), lab.Urls(), std::string("--cache ") + mode);
        ASSERT_TRUE(mount.ok()) << mount.result().output;
        // O_SYNC through the page cache: the kernel also sends an fsync after each write.
        ExpectEveryWriteDurable(
            dir_.path(), lab, mount, O_SYNC,
            [](int fd, const char* d, off_t at) { return pwrite(fd, d, kWrite, at); });
        // A plain O_DIRECT handle, each write flagged durable on its own (qemu's cache=directsync
        // opens with O_DSYNC instead; databases use either).
        ExpectEveryWriteDurable(dir_.path(), lab, mount, O_DIRECT,
                                [](int fd, const char* d, off_t at) {
                                    iovec v{const_cast<char*>(d), kWrite};
                                    return pwritev2(fd, &v, 1, at, RWF_DSYNC);
                                });
        EXPECT_EQ(mount.Unmount().exit_code, 0);
    }
}

// SIGTERM while a write waits on a frozen target, its command still held by its path: the daemon
// answers the write (an error, not a connection torn from under it) and exits in bounded time,
// leaving no mount behind.
TEST_F(DurabilityTest, StoppingWithAWriteInFlightAnswersItAndExitsInBoundedTime) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls(), "--cache none --no-path-timeout 120");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    const int pid = mount.Pid();
    ASSERT_GT(pid, 0);
    const std::string file = mount.File();
    ASSERT_TRUE(lab.Freeze());
    auto writer = std::async(std::launch::async, [file] {
        const int fd = open(file.c_str(), O_WRONLY | O_DIRECT);
        if (fd < 0) return errno;
        void* raw = nullptr;
        if (posix_memalign(&raw, 4096, 1 << 20) != 0) return ENOMEM;
        std::memset(raw, 0x5a, 1 << 20);
        const ssize_t n = pwrite(fd, raw, 1 << 20, 0);
        const int err = n < 0 ? errno : 0;
        free(raw);
        close(fd);
        return err;
    });
    // The write's command is held by its path (its deadline, a second at least, has not passed).
    std::this_thread::sleep_for(500ms);
    ASSERT_EQ(writer.wait_for(0s), std::future_status::timeout) << "the write did not wait";
    const auto stopped_at = std::chrono::steady_clock::now();
    ASSERT_EQ(kill(pid, SIGTERM), 0);
    bool exited = false;
    for (int i = 0; i < 600 && !exited; ++i) {
        exited = kill(pid, 0) != 0;
        if (!exited) std::this_thread::sleep_for(100ms);
    }
    const double took = Ms(std::chrono::steady_clock::now() - stopped_at);
    lab.Thaw();
    ASSERT_TRUE(exited) << "the daemon did not exit within 60 s of SIGTERM";
    EXPECT_LT(took, 30000) << "shutting down took " << took << " ms";
    ASSERT_EQ(writer.wait_for(10s), std::future_status::ready);
    const int err = writer.get();
    EXPECT_NE(err, 0) << "a write the target never answered was acknowledged";
    EXPECT_TRUE(err != ENOTCONN && err != ECONNABORTED)
        << "the write was never answered: the session went away under it (" << std::strerror(err)
        << ")";
    EXPECT_EQ(Shell("grep -q ' " + Mp() + " ' /proc/mounts").exit_code, 1) << "still mounted";
}

}  // namespace
}  // namespace lunfs::test
