// What a path puts on the wire, seen by tshark on the lab's port.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/integration/capture.h"
#include "tests/integration/harness.h"

namespace lunfs::test {
namespace {

using WireTest = IntegrationTest;

// libiscsi writes a command's header and its data with a socket call each; the path corks its
// socket around them, so that a 4 KiB write reaches the target as one segment, not a 48-byte
// header and then the data (two segments, two wake-ups of the target).
TEST_F(WireTest, AFourKibWriteLeavesAsOneSegmentWithItsHeader) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls(), "--cache none");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    constexpr int kWrites = 16;
    constexpr int kHeader = 48, kBlock = 4096;
    std::vector<int> segments;
    {
        IscsiCapture capture(dir_.path(), lab.Ports());
        ASSERT_TRUE(capture.ok()) << capture.error();
        for (int i = 0; i < kWrites; ++i) {
            ASSERT_TRUE(WriteDirect(mount.File(), static_cast<uint64_t>(i) * 64 * kBlock,
                                    RandomBytes(kBlock, 40 + i)));
        }
        capture.Stop();
        ASSERT_EQ(capture.error(), "");
        segments = capture.SegmentsTo(lab.Port());
    }
    std::string seen;
    for (int len : segments) seen += std::to_string(len) + " ";
    // Data alone in a segment would be a write whose header left before it.
    EXPECT_EQ(std::count(segments.begin(), segments.end(), kBlock), 0) << seen;
    EXPECT_GE(std::count_if(segments.begin(), segments.end(),
                            [](int len) { return len >= kHeader + kBlock; }),
              kWrites)
        << seen;
    EXPECT_EQ(mount.Unmount().exit_code, 0);
}

}  // namespace
}  // namespace lunfs::test
