#include "cache/readahead.h"

#include <gtest/gtest.h>

#include <vector>

namespace lunfs {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kLimit = 1024 * kMiB;

ReadaheadOptions Options() {
    ReadaheadOptions o;
    o.min_window = kMiB;
    o.max_window = 16 * kMiB;
    o.streams = 4;
    return o;
}

TEST(ReadaheadTest, TheFirstReadOfAStreamLoadsNothing) {
    Readahead ra(Options());
    EXPECT_TRUE(ra.OnRead(0, kMiB, kLimit).empty());
}

TEST(ReadaheadTest, TheSecondSequentialReadLoadsFourReadsAhead) {
    Readahead ra(Options());
    ra.OnRead(0, kMiB, kLimit);
    EXPECT_EQ(ra.OnRead(kMiB, kMiB, kLimit), (ByteRange{2 * kMiB, 6 * kMiB}));
}

TEST(ReadaheadTest, TheWindowIsAtLeastTheMinimumForSmallReads) {
    Readahead ra(Options());
    ra.OnRead(0, 4096, kLimit);
    EXPECT_EQ(ra.OnRead(4096, 4096, kLimit), (ByteRange{8192, 8192 + kMiB}));
}

TEST(ReadaheadTest, LoadsAgainOnlyWhenLessThanHalfTheWindowIsAheadAndThenDoublesIt) {
    Readahead ra(Options());
    ra.OnRead(0, kMiB, kLimit);
    ASSERT_EQ(ra.OnRead(kMiB, kMiB, kLimit), (ByteRange{2 * kMiB, 6 * kMiB}));
    EXPECT_TRUE(ra.OnRead(2 * kMiB, kMiB, kLimit).empty());  // 3 MiB ahead of a 4 MiB window
    EXPECT_TRUE(ra.OnRead(3 * kMiB, kMiB, kLimit).empty());  // 2 MiB ahead: half
    // 1 MiB ahead: the window doubles to 8 MiB, loaded from where the last load ended.
    EXPECT_EQ(ra.OnRead(4 * kMiB, kMiB, kLimit), (ByteRange{6 * kMiB, 13 * kMiB}));
    EXPECT_EQ(ra.Windows(), (std::vector<uint64_t>{8 * kMiB}));
}

TEST(ReadaheadTest, TheWindowStopsGrowingAtTheMaximum) {
    Readahead ra(Options());
    for (uint64_t i = 0; i < 200; ++i) ra.OnRead(i * kMiB, kMiB, kLimit);
    EXPECT_EQ(ra.Windows(), (std::vector<uint64_t>{16 * kMiB}));
}

TEST(ReadaheadTest, RandomReadsNeverLoadAhead) {
    Readahead ra(Options());
    for (uint64_t offset : {700u, 13u, 402u, 91u, 555u, 260u, 38u, 999u}) {
        EXPECT_TRUE(ra.OnRead(offset * kMiB, 4096, kLimit).empty()) << offset;
    }
}

TEST(ReadaheadTest, InterleavedStreamsAreFollowedEachOnItsOwn) {
    Readahead ra(Options());
    ra.OnRead(0, kMiB, kLimit);
    ra.OnRead(500 * kMiB, kMiB, kLimit);
    EXPECT_EQ(ra.OnRead(kMiB, kMiB, kLimit), (ByteRange{2 * kMiB, 6 * kMiB}));
    EXPECT_EQ(ra.OnRead(501 * kMiB, kMiB, kLimit), (ByteRange{502 * kMiB, 506 * kMiB}));
}

TEST(ReadaheadTest, ReadsOfOneStreamArrivingOutOfOrderContinueIt) {
    Readahead ra(Options());
    ra.OnRead(0, kMiB, kLimit);
    ra.OnRead(2 * kMiB, kMiB, kLimit);                   // the read of [1, 2) is still coming
    EXPECT_TRUE(ra.OnRead(kMiB, kMiB, kLimit).empty());  // it does not start a stream
    EXPECT_EQ(ra.Windows().size(), 1u);
}

TEST(ReadaheadTest, LoadsStopAtTheEndOfTheDevice) {
    Readahead ra(Options());
    ra.OnRead(0, kMiB, 3 * kMiB);
    EXPECT_EQ(ra.OnRead(kMiB, kMiB, 3 * kMiB), (ByteRange{2 * kMiB, 3 * kMiB}));
    EXPECT_TRUE(ra.OnRead(2 * kMiB, kMiB, 3 * kMiB).empty());
}

TEST(ReadaheadTest, ForgetMakesAStreamLoadTheForgottenRangeAgain) {
    Readahead ra(Options());
    ra.OnRead(0, kMiB, kLimit);
    ASSERT_EQ(ra.OnRead(kMiB, kMiB, kLimit), (ByteRange{2 * kMiB, 6 * kMiB}));
    ra.Forget(3 * kMiB, 4 * kMiB);  // a write there: what was loaded from 3 MiB on is gone
    EXPECT_EQ(ra.OnRead(2 * kMiB, kMiB, kLimit), (ByteRange{3 * kMiB, 11 * kMiB}));
}

TEST(ReadaheadTest, AZeroMinimumWindowTurnsItOff) {
    ReadaheadOptions o = Options();
    o.min_window = 0;
    Readahead ra(o);
    for (uint64_t i = 0; i < 10; ++i) EXPECT_TRUE(ra.OnRead(i * kMiB, kMiB, kLimit).empty());
}

TEST(ReadaheadTest, TheLeastRecentlyUsedStreamMakesWayForANewOne) {
    Readahead ra(Options());  // four streams
    for (uint64_t s = 0; s < 4; ++s) ra.OnRead(s * 100 * kMiB, kMiB, kLimit);
    ra.OnRead(kMiB, kMiB, kLimit);        // stream 0 is used again
    ra.OnRead(900 * kMiB, kMiB, kLimit);  // a fifth replaces stream 1 (at 100 MiB)
    EXPECT_TRUE(ra.OnRead(101 * kMiB, kMiB, kLimit).empty());  // stream 1 starts over
    EXPECT_TRUE(ra.OnRead(2 * kMiB, kMiB, kLimit).empty());    // stream 0 still has 3 MiB ahead
}

}  // namespace
}  // namespace lunfs
