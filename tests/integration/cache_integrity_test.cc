// The write-back cache against a target that stops answering: a writer keeps writing while tgtd
// is frozen (SIGSTOP), and the daemon's peak memory must stay within its cache's bound (the
// cache's chunks, plus the write-back copies within the dirty limit, plus a constant), however
// long the freeze lasts; writers wait for the LUN instead.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include "tests/integration/harness.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kMiB = 1 << 20;

// A line of /proc/PID/status in bytes ("VmHWM:  1234 kB"), 0 when missing.
uint64_t ProcStatusBytes(int pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0)
            return std::stoull(line.substr(field.size() + 1)) * 1024;
    }
    return 0;
}

class CacheIntegrityTest : public IntegrationTest {};

TEST_F(CacheIntegrityTest, DaemonMemoryStaysBoundedWhileTheTargetIsFrozenUnderAWriter) {
    constexpr uint64_t kCacheMiB = 32;  // dirty limit: a quarter of it
    // Bytes over the baseline that the bound allows besides the cache and its copies: FUSE
    // request buffers, the writes waiting for the LUN and the allocator's slack.
    constexpr uint64_t kSlack = 48 * kMiB;
    const auto freeze = std::chrono::seconds(
        std::getenv("LUNFS_FREEZE_S") ? std::atoi(std::getenv("LUNFS_FREEZE_S")) : 12);
    LabOptions lo;
    lo.size = "1G";
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(
        Mp(), lab.Urls(),
        "--cache writeback --cache-size " + std::to_string(kCacheMiB) + " --no-path-timeout 600");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    const int pid = mount.Pid();
    const uint64_t baseline = ProcStatusBytes(pid, "VmRSS");
    ASSERT_GT(baseline, 0u);
    const int writer_s = static_cast<int>(freeze.count()) + 6;
    auto writer = std::async(std::launch::async, [&] {
        const std::string dd =
            "dd if=/dev/urandom of=" + mount.File() + " bs=1M count=900 conv=notrunc status=none";
        return Shell("bash -c 'end=$((SECONDS+" + std::to_string(writer_s) +
                     ")); while [ $SECONDS -lt $end ]; do timeout " + std::to_string(writer_s) +
                     " " + dd + " || break; done'");
    });
    std::this_thread::sleep_for(2s);
    const bool frozen = lab.Freeze();
    std::this_thread::sleep_for(freeze);
    const uint64_t peak = ProcStatusBytes(pid, "VmHWM");
    const bool thawed = lab.Thaw();
    writer.wait();
    EXPECT_TRUE(frozen && thawed);
    const uint64_t bound = baseline + kCacheMiB * kMiB * 5 / 4 + kSlack;
    RecordProperty("baseline_mib", std::to_string(baseline / kMiB));
    RecordProperty("peak_mib", std::to_string(peak / kMiB));
    std::printf("daemon RSS: baseline %llu MiB, peak %llu MiB over a %lld s freeze (bound %llu)\n",
                static_cast<unsigned long long>(baseline / kMiB),
                static_cast<unsigned long long>(peak / kMiB),
                static_cast<long long>(freeze.count()),
                static_cast<unsigned long long>(bound / kMiB));
    EXPECT_LE(peak, bound);
    EXPECT_GT(peak, baseline + 8 * kMiB);  // the writer did fill the cache
}

}  // namespace
}  // namespace lunfs::test
