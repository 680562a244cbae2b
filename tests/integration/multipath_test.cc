// Multipath end to end: one LUN on several portals of a real tgtd, data checked by an independent
// initiator, paths added and removed, all paths down. Faults under load: fault_test.cc.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/harness.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;

class MultipathTest : public IntegrationTest {
  protected:
    static nlohmann::json Status(const Mount& mount) { return StatsJson(mount); }
    static bool AllPathsActive(const Mount& mount, std::chrono::seconds limit) {
        return WaitAllPathsActive(mount, limit);
    }
};

TEST_F(MultipathTest, UrlsOfOneLunBecomeOneFileAndItsDataMatchesAnotherInitiator) {
    LabOptions lo;
    lo.portals = 4;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls());
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    EXPECT_EQ(Shell("ls " + Mp()).output, "lun1\n");

    const std::vector<char> data = RandomBytes(32 << 20, 21);
    ASSERT_TRUE(WriteDirect(mount.File(), 1 << 20, data));
    std::vector<char> back;
    ASSERT_TRUE(ReadDirect(mount.File(), 1 << 20, data.size(), back));
    EXPECT_EQ(back, data);

    const std::string expected = dir_.path() + "/expected.raw";
    WriteFile(expected, data, 1 << 20, 256 << 20);
    CommandResult cmp = Shell("qemu-img compare -f raw -F raw " + expected + " " + lab.Url(2));
    EXPECT_EQ(cmp.exit_code, 0) << cmp.output;

    // Every path carried part of it, both ways.
    nlohmann::json st = Status(mount);
    ASSERT_EQ(st["luns"][0]["paths"].size(), 4u);
    for (const auto& p : st["luns"][0]["paths"]) {
        EXPECT_GT(p["bytes_written"].get<uint64_t>(), 0u) << p.dump();
        EXPECT_GT(p["bytes_read"].get<uint64_t>(), 0u) << p.dump();
    }
}

TEST_F(MultipathTest, RefusesAPathThatReachesAnotherLunNamingBothIdentities) {
    LabOptions lo;
    lo.iqn = "iqn.2026-11.io.lunfs.test:same-name";
    Lab a(LabDir("a"), lo);
    Lab b(LabDir("b"), lo);
    ASSERT_TRUE(a.ok()) << a.error();
    ASSERT_TRUE(b.ok()) << b.error();
    Mount bad(Mp(), {a.Url(), b.Url()});
    EXPECT_EQ(bad.result().exit_code, 1);
    EXPECT_NE(bad.result().output.find("reach different ones"), std::string::npos)
        << bad.result().output;
    EXPECT_NE(bad.result().output.find(" vs "), std::string::npos) << bad.result().output;

    Mount mount(Mp(), {a.Url()});
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    CommandResult add = Shell(LunfsBinary() + " path add " + Mp() + " lun1 " + b.Url());
    EXPECT_EQ(add.exit_code, 1);
    EXPECT_NE(add.output.find("reaches LUN"), std::string::npos) << add.output;
    EXPECT_EQ(Status(mount)["luns"][0]["paths"].size(), 1u);
}

TEST_F(MultipathTest, PathsAreAddedAndRemovedWhileMounted) {
    LabOptions lo;
    lo.portals = 3;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), {lab.Url(0)});
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    for (int i : {1, 2}) {
        CommandResult add = Shell(LunfsBinary() + " path add " + Mp() + " lun1 " + lab.Url(i));
        ASSERT_EQ(add.exit_code, 0) << add.output;
    }
    EXPECT_EQ(Status(mount)["luns"][0]["paths"].size(), 3u);
    const std::vector<char> data = RandomBytes(8 << 20, 22);
    ASSERT_TRUE(WriteDirect(mount.File(), 0, data));
    const nlohmann::json after_write = Status(mount);  // the loop must not range over a temporary
    for (const auto& p : after_write["luns"][0]["paths"]) {
        EXPECT_GT(p["bytes_written"].get<uint64_t>(), 0u) << p.dump();
    }
    CommandResult rm = Shell(LunfsBinary() + " path remove " + Mp() + " lun1 " + lab.Url(0));
    ASSERT_EQ(rm.exit_code, 0) << rm.output;
    std::this_thread::sleep_for(300ms);  // the removed path drains and goes away on a tick
    nlohmann::json st = Status(mount);
    ASSERT_EQ(st["luns"][0]["paths"].size(), 2u) << st.dump();
    ASSERT_TRUE(WriteDirect(mount.File(), 0, data));
    EXPECT_EQ(ReadFileRange(lab.Backing(), 0, data.size()), data);
    CommandResult last =
        Shell(LunfsBinary() + " path remove " + Mp() + " lun1 " + lab.Url(1) + " && " +
              LunfsBinary() + " path remove " + Mp() + " lun1 " + lab.Url(2));
    EXPECT_NE(last.exit_code, 0);
    EXPECT_NE(last.output.find("last path"), std::string::npos) << last.output;
}

TEST_F(MultipathTest, AllPathsDownQueuesIoWithinTheWindowAndFailsWithEioBeyondIt) {
    LabOptions lo;
    lo.portals = 2;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls(), "--no-path-timeout 4");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    const std::vector<char> data = RandomBytes(4 << 20, 23);

    {  // Back within the window: the write completes.
        PortFault fault({lab.Port(0), lab.Port(1)}, true);
        ASSERT_TRUE(fault.ok());
        auto write =
            std::async(std::launch::async, [&] { return WriteDirect(mount.File(), 0, data); });
        std::this_thread::sleep_for(2s);
        fault.Heal();
        EXPECT_TRUE(write.get());
        EXPECT_EQ(ReadFileRange(lab.Backing(), 0, data.size()), data);
    }
    {  // Not back in time: EIO.
        PortFault fault({lab.Port(0), lab.Port(1)}, true);
        ASSERT_TRUE(fault.ok());
        const auto start = std::chrono::steady_clock::now();
        const int fd = open(mount.File().c_str(), O_WRONLY | O_DIRECT);
        ASSERT_GE(fd, 0);
        void* raw = nullptr;
        ASSERT_EQ(posix_memalign(&raw, 4096, 1 << 20), 0);
        errno = 0;
        const ssize_t n = pwrite(fd, raw, 1 << 20, 8 << 20);
        const int err = errno;
        std::free(raw);
        close(fd);
        EXPECT_EQ(n, -1);
        EXPECT_EQ(err, EIO);
        EXPECT_GE(std::chrono::steady_clock::now() - start, 3s);
    }
    // The mount works again once the paths are back.
    ASSERT_TRUE(AllPathsActive(mount, 20s)) << Status(mount).dump();
    EXPECT_TRUE(WriteDirect(mount.File(), 16 << 20, data));
    EXPECT_EQ(ReadFileRange(lab.Backing(), 16 << 20, data.size()), data);
}

}  // namespace
}  // namespace lunfs::test
