#include "engine/picker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace lunfs {
namespace {

constexpr uint32_t kBlock = 512;
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;

PickerOptions Options(Policy policy, uint32_t switch_every = 1000) {
    PickerOptions o;
    o.policy = policy;
    o.switch_every = switch_every;
    o.block_size = kBlock;
    o.min_share_bytes = 64 * kKiB;
    return o;
}

// Idle paths 0..n-1 of the given throughputs (bytes per second).
std::vector<PathLoad> Idle(const std::vector<double>& rates) {
    std::vector<PathLoad> out;
    for (size_t i = 0; i < rates.size(); ++i) out.push_back(PathLoad{i, rates[i], 0, 0, 0});
    return out;
}

std::vector<size_t> Paths(const std::vector<Share>& shares) {
    std::vector<size_t> out;
    for (const Share& s : shares) out.push_back(s.path);
    return out;
}

std::vector<uint64_t> Bytes(const std::vector<Share>& shares) {
    std::vector<uint64_t> out;
    for (const Share& s : shares) out.push_back(s.bytes);
    return out;
}

std::vector<size_t> Indexes(size_t n) {
    std::vector<size_t> out;
    for (size_t i = 0; i < n; ++i) out.push_back(i);
    return out;
}

uint64_t Sum(const std::vector<Share>& shares) {
    uint64_t total = 0;
    for (const Share& s : shares) total += s.bytes;
    return total;
}

// The path each of `count` requests of `length` bytes goes to.
std::vector<size_t> Picks(Picker& picker, const std::vector<PathLoad>& paths, int count,
                          uint64_t length = 4 * kKiB) {
    std::vector<size_t> out;
    for (int i = 0; i < count; ++i) {
        std::vector<Share> shares = picker.Split(length, paths);
        EXPECT_EQ(shares.size(), 1u);
        EXPECT_EQ(Sum(shares), length);
        out.push_back(shares.empty() ? SIZE_MAX : shares[0].path);
    }
    return out;
}

TEST(PickerTest, SplitOfNoBytesOrOverNoPathIsEmpty) {
    Picker picker(Options(Policy::kSpread));
    EXPECT_TRUE(picker.Split(0, Idle({100e6, 100e6})).empty());
    EXPECT_TRUE(picker.Split(kMiB, {}).empty());
}

TEST(PickerTest, SpreadGivesEqualPathsEqualBlockAlignedSharesThatAddUpToTheLength) {
    Picker picker(Options(Policy::kSpread));
    for (size_t n : {2u, 3u, 4u}) {
        const std::vector<PathLoad> paths = Idle(std::vector<double>(n, 100e6));
        // Lengths that divide into n equal block-aligned shares of at least the minimum.
        for (uint64_t blocks_each : {128u, 256u, 384u, 512u, 1536u, 2048u}) {
            const uint64_t length = n * blocks_each * kBlock;
            SCOPED_TRACE(testing::Message() << n << " paths, " << length << " bytes");
            std::vector<Share> shares = picker.Split(length, paths);
            EXPECT_EQ(Paths(shares), Indexes(n));
            EXPECT_EQ(Bytes(shares), std::vector<uint64_t>(n, blocks_each * kBlock));
            EXPECT_EQ(Sum(shares), length);
        }
    }
}

TEST(PickerTest, SpreadSharesAreProportionalToThroughputWithinTwoBlocks) {
    Picker picker(Options(Policy::kSpread));
    const std::vector<PathLoad> paths = Idle({100e6, 50e6, 25e6, 25e6});
    for (uint64_t length : {1 * kMiB, 2 * kMiB, 3 * kMiB, 4 * kMiB, 6 * kMiB, 8 * kMiB}) {
        SCOPED_TRACE(testing::Message() << length << " bytes");
        const uint64_t ideal[] = {length / 2, length / 4, length / 8, length / 8};
        std::vector<Share> shares = picker.Split(length, paths);
        ASSERT_EQ(Paths(shares), Indexes(4));
        int64_t worst = 0;  // blocks off the ideal share
        for (size_t i = 0; i < 4; ++i) {
            EXPECT_EQ(shares[i].bytes % kBlock, 0u);
            const int64_t off =
                static_cast<int64_t>(shares[i].bytes) - static_cast<int64_t>(ideal[i]);
            worst = std::max<int64_t>(worst, std::abs(off) / kBlock);
        }
        EXPECT_LE(worst, 2) << testing::PrintToString(Bytes(shares));
        EXPECT_EQ(Sum(shares), length);
    }
}

TEST(PickerTest, SpreadGivesAPathWithABacklogLessSoThatAllFinishTogether) {
    Picker picker(Options(Policy::kSpread));
    std::vector<PathLoad> paths = Idle({100e6, 100e6});
    paths[1].outstanding_bytes = 256 * kKiB;
    paths[1].outstanding_ios = 1;
    // Both finish at (1 MiB + 256 KiB) / 200 MB/s: path 0 takes 640 KiB, path 1 the rest.
    std::vector<Share> shares = picker.Split(kMiB, paths);
    ASSERT_EQ(shares.size(), 2u);
    EXPECT_EQ(shares[0].path, 0u);
    EXPECT_EQ(shares[0].bytes, 640 * kKiB);
    EXPECT_EQ(shares[1].path, 1u);
    EXPECT_EQ(shares[1].bytes, 384 * kKiB);
}

TEST(PickerTest, SpreadGivesNothingToAPathWhoseBacklogOutlastsTheRequest) {
    Picker picker(Options(Policy::kSpread));
    std::vector<PathLoad> paths = Idle({100e6, 100e6, 100e6, 100e6});
    paths[2].outstanding_bytes = 8 * kMiB;
    paths[2].outstanding_ios = 8;
    std::vector<Share> shares = picker.Split(kMiB, paths);
    ASSERT_EQ(shares.size(), 3u);
    for (const Share& s : shares) {
        EXPECT_NE(s.path, 2u);
        EXPECT_GE(s.bytes, 64 * kKiB);
        EXPECT_EQ(s.bytes % kBlock, 0u);
    }
    EXPECT_EQ(Sum(shares), kMiB);
}

TEST(PickerTest, SpreadSendsARequestBelowTheMinimumShareWholeToOnePath) {
    Picker picker(Options(Policy::kSpread));
    std::vector<PathLoad> paths = Idle({100e6, 100e6});
    for (uint64_t length : {uint64_t{kBlock}, 32 * kKiB, 64 * kKiB, 100 * kKiB}) {
        std::vector<Share> shares = picker.Split(length, paths);
        ASSERT_EQ(shares.size(), 1u) << length;
        EXPECT_EQ(shares[0].path, 0u);
        EXPECT_EQ(shares[0].bytes, length);
    }
    // The whole request goes to the path that would finish it first.
    paths[0].outstanding_bytes = 64 * kKiB;
    std::vector<Share> shares = picker.Split(32 * kKiB, paths);
    ASSERT_EQ(shares.size(), 1u);
    EXPECT_EQ(shares[0].path, 1u);
    EXPECT_EQ(shares[0].bytes, 32 * kKiB);
}

TEST(PickerTest, SpreadGivesNoPathLessThanTheMinimumShare) {
    Picker picker(Options(Policy::kSpread));
    // 128 KiB over four paths: only two shares of 64 KiB are possible.
    std::vector<Share> shares = picker.Split(128 * kKiB, Idle({100e6, 100e6, 100e6, 100e6}));
    ASSERT_EQ(shares.size(), 2u);
    EXPECT_EQ(shares[0].bytes, 64 * kKiB);
    EXPECT_EQ(shares[1].bytes, 64 * kKiB);
    EXPECT_NE(shares[0].path, shares[1].path);
}

TEST(PickerTest, SpreadOverOnePathGivesItTheWholeRequest) {
    Picker picker(Options(Policy::kSpread));
    std::vector<PathLoad> one = {PathLoad{7, 10e6, 5 * kMiB, 5, 0}};
    std::vector<Share> shares = picker.Split(3 * kMiB, one);
    ASSERT_EQ(shares.size(), 1u);
    EXPECT_EQ(shares[0].path, 7u);
    EXPECT_EQ(shares[0].bytes, 3 * kMiB);
}

TEST(PickerTest, RoundRobinSwitchesToTheNextPathAfterExactlySwitchEveryRequests) {
    Picker picker(Options(Policy::kRoundRobin, 3));
    const std::vector<PathLoad> paths = Idle({100e6, 100e6, 100e6});
    EXPECT_EQ(Picks(picker, paths, 10), (std::vector<size_t>{0, 0, 0, 1, 1, 1, 2, 2, 2, 0}));
}

TEST(PickerTest, RoundRobinSkipsAPathThatVanished) {
    Picker picker(Options(Policy::kRoundRobin, 2));
    const std::vector<PathLoad> all = Idle({100e6, 100e6, 100e6});
    const std::vector<PathLoad> without_1 = {all[0], all[2]};
    EXPECT_EQ(Picks(picker, all, 2), (std::vector<size_t>{0, 0}));
    EXPECT_EQ(Picks(picker, without_1, 3), (std::vector<size_t>{2, 2, 0}));
}

TEST(PickerTest, RoundRobinLeavesAPathThatVanishedInTheMiddleOfItsTurnAtOnce) {
    Picker picker(Options(Policy::kRoundRobin, 3));
    const std::vector<PathLoad> all = Idle({100e6, 100e6, 100e6});
    const std::vector<PathLoad> without_0 = {all[1], all[2]};
    EXPECT_EQ(Picks(picker, all, 1), (std::vector<size_t>{0}));
    // Path 1 takes over with a fresh count of three.
    EXPECT_EQ(Picks(picker, without_0, 4), (std::vector<size_t>{1, 1, 1, 2}));
}

TEST(PickerTest, QueueDepthPicksThePathWithTheFewestOutstandingCommands) {
    Picker picker(Options(Policy::kQueueDepth));
    std::vector<PathLoad> paths = Idle({100e6, 100e6, 100e6});
    paths[0].outstanding_ios = 3;
    paths[1].outstanding_ios = 1;
    paths[1].outstanding_bytes = 4 * kMiB;
    paths[2].outstanding_ios = 2;
    EXPECT_EQ(Picks(picker, paths, 1, kMiB), (std::vector<size_t>{1}));
    // A tie in commands goes to the path with fewer bytes outstanding.
    paths[2].outstanding_ios = 1;
    paths[2].outstanding_bytes = 1 * kMiB;
    EXPECT_EQ(Picks(picker, paths, 1, kMiB), (std::vector<size_t>{2}));
}

TEST(PickerTest, ServiceTimePicksThePathExpectedToFinishFirst) {
    Picker picker(Options(Policy::kServiceTime));
    std::vector<PathLoad> paths = Idle({100e6, 50e6, 10e6});
    paths[0].outstanding_bytes = 4 * kMiB;  // 5 MiB at 100 MB/s: 52 ms
    // Path 1: 1 MiB at 50 MB/s, 21 ms; path 2: 1 MiB at 10 MB/s, 105 ms.
    EXPECT_EQ(Picks(picker, paths, 1, kMiB), (std::vector<size_t>{1}));
    paths[1].outstanding_bytes = 2 * kMiB;  // now 3 MiB at 50 MB/s: 63 ms
    EXPECT_EQ(Picks(picker, paths, 1, kMiB), (std::vector<size_t>{0}));
}

TEST(PickerTest, FailoverPicksTheLowestPriorityAndMovesOnWhenThatPathIsGone) {
    Picker picker(Options(Policy::kFailover));
    std::vector<PathLoad> paths = Idle({100e6, 100e6, 100e6});
    paths[0].priority = 2;
    paths[1].priority = 0;
    paths[2].priority = 1;
    paths[1].outstanding_ios = 50;  // load does not matter
    EXPECT_EQ(Picks(picker, paths, 3, kMiB), (std::vector<size_t>{1, 1, 1}));
    const std::vector<PathLoad> without_1 = {paths[0], paths[2]};
    EXPECT_EQ(Picks(picker, without_1, 2, kMiB), (std::vector<size_t>{2, 2}));
    const std::vector<PathLoad> only_0 = {paths[0]};
    EXPECT_EQ(Picks(picker, only_0, 1, kMiB), (std::vector<size_t>{0}));
}

TEST(PickerTest, PolicyNamesParseBack) {
    for (Policy p : {Policy::kSpread, Policy::kRoundRobin, Policy::kQueueDepth,
                     Policy::kServiceTime, Policy::kFailover}) {
        EXPECT_EQ(ParsePolicy(PolicyName(p)), p);
    }
    EXPECT_EQ(ParsePolicy("least-blocks"), std::nullopt);
}

}  // namespace
}  // namespace lunfs
