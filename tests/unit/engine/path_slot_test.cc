#include "engine/path_slot.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <vector>

namespace lunfs {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr TimePoint kT0 = TimePoint{} + std::chrono::hours(1);

TEST(LatencyHistogramTest, IsZeroWhileEmpty) {
    LatencyHistogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.Percentile(0.5), Duration::zero());
    EXPECT_EQ(h.Percentile(0.99), Duration::zero());
}

TEST(LatencyHistogramTest, PercentileIsTheUpperBoundOfThePowerOfTwoBucketHoldingIt) {
    LatencyHistogram h;
    for (int i = 0; i < 90; ++i) h.Add(microseconds(100));  // 64..127 us
    for (int i = 0; i < 9; ++i) h.Add(microseconds(700));   // 512..1023 us
    h.Add(milliseconds(5));                                 // 4096..8191 us
    EXPECT_EQ(h.count(), 100u);
    EXPECT_EQ(h.Percentile(0.5), microseconds(128));
    EXPECT_EQ(h.Percentile(0.9), microseconds(128));
    EXPECT_EQ(h.Percentile(0.91), microseconds(1024));
    EXPECT_EQ(h.Percentile(0.99), microseconds(1024));
    EXPECT_EQ(h.Percentile(1.0), microseconds(8192));
}

TEST(LatencyHistogramTest, KeepsZeroAndHugeLatenciesInItsEndBuckets) {
    LatencyHistogram h;
    h.Add(Duration::zero());
    h.Add(-microseconds(5));  // a clock step back counts as zero
    EXPECT_EQ(h.Percentile(1.0), microseconds(1));
    h.Add(std::chrono::hours(24 * 365 * 100));
    EXPECT_EQ(h.count(), 3u);
    EXPECT_EQ(h.Percentile(1.0), microseconds(uint64_t{1} << 39));
}

// Sends one extent at `at` and completes it `latency` later.
void Transfer(PathSlot& slot, uint64_t bytes, TimePoint at, Duration latency) {
    slot.Sent(bytes, at);
    slot.Completed(bytes, latency, at + latency, true);
}

TEST(PathSlotTest, LatencyStartsAtTheFirstCompletionAndThroughputAtTheFirstFullWindow) {
    PathSlot slot;
    Transfer(slot, 1 << 20, kT0, milliseconds(10));
    EXPECT_DOUBLE_EQ(slot.latency_us, 10000.0);
    EXPECT_EQ(slot.bytes_per_second, 0.0);  // 10 ms of busy time: the window is still open
    EXPECT_EQ(slot.histogram.count(), 1u);
    EXPECT_EQ(slot.outstanding_ios, 0u);
    EXPECT_EQ(slot.outstanding_bytes, 0u);
    Transfer(slot, 1 << 20, kT0 + milliseconds(50), milliseconds(10));
    EXPECT_DOUBLE_EQ(slot.bytes_per_second, 104857600.0);  // 2 MiB in 20 ms busy
}

TEST(PathSlotTest, IdleTimeBetweenRequestsDoesNotCountAgainstThePath) {
    PathSlot slot;
    // 256 KiB every 10 ms, each taking 2.5 ms: a 100 MiB/s path busy a quarter of the time.
    for (int i = 0; i < 8; ++i) {
        Transfer(slot, 256 << 10, kT0 + milliseconds(10 * i), microseconds(2500));
    }
    EXPECT_NEAR(slot.bytes_per_second, 104857600.0, 1.0);
}

TEST(PathSlotTest, LaterWindowsAreSmoothedWithAQuarterWeight) {
    PathSlot slot;
    Transfer(slot, 2 << 20, kT0, milliseconds(20));               // 100 MiB/s
    Transfer(slot, 1 << 20, kT0 + seconds(1), milliseconds(20));  // 50 MiB/s
    EXPECT_DOUBLE_EQ(slot.latency_us, 0.8 * 20000 + 0.2 * 20000);
    EXPECT_DOUBLE_EQ(slot.bytes_per_second, 0.75 * 104857600.0 + 0.25 * 52428800.0);
    EXPECT_EQ(slot.histogram.count(), 2u);
}

TEST(PathSlotTest, ExtentsRunningSideBySideCountAtThePathsWholeSpeed) {
    PathSlot slot;
    // Eight 256 KiB extents sent together on a path that moves 100 MiB/s: they complete every
    // 2.5 ms, each after a longer latency, yet the path's speed is 100 MiB/s.
    for (int i = 0; i < 8; ++i) slot.Sent(256 << 10, kT0);
    for (int i = 1; i <= 8; ++i) {
        const Duration latency = microseconds(2500 * i);
        slot.Completed(256 << 10, latency, kT0 + latency, true);
    }
    EXPECT_NEAR(slot.bytes_per_second, 104857600.0, 1.0);
}

TEST(PathSlotTest, UnevenExtentsCompletingTogetherDoNotInflateTheSpeed) {
    PathSlot slot;
    // A 256 KiB extent and a 2 KiB one sent together complete 10 us apart, again and again, on a
    // 50 MiB/s path: the pair takes 5 ms of busy time whatever the order of completions.
    for (int i = 0; i < 10; ++i) {
        const TimePoint at = kT0 + milliseconds(7 * i);
        slot.Sent(256 << 10, at);
        slot.Sent(2 << 10, at);
        slot.Completed(2 << 10, microseconds(4990), at + microseconds(4990), true);
        slot.Completed(256 << 10, microseconds(5000), at + microseconds(5000), true);
    }
    EXPECT_NEAR(slot.bytes_per_second, 258.0 * 1024 / 0.005, 1.0);
}

TEST(PathSlotTest, FailedOrDatalessCommandsDoNotMoveTheThroughput) {
    PathSlot slot;
    Transfer(slot, 2 << 20, kT0, milliseconds(20));
    EXPECT_DOUBLE_EQ(slot.bytes_per_second, 104857600.0);
    slot.Sent(0, kT0 + seconds(1));
    slot.Completed(0, milliseconds(2), kT0 + seconds(1) + milliseconds(2), true);
    EXPECT_DOUBLE_EQ(slot.bytes_per_second, 104857600.0);
    slot.Sent(1 << 20, kT0 + seconds(2));
    slot.Completed(1 << 20, seconds(5), kT0 + seconds(7), false);  // failed: not measured
    EXPECT_DOUBLE_EQ(slot.bytes_per_second, 104857600.0);
    // The failure discarded the window: the next one starts afresh.
    Transfer(slot, 2 << 20, kT0 + seconds(8), milliseconds(20));
    EXPECT_DOUBLE_EQ(slot.bytes_per_second, 104857600.0);
    EXPECT_EQ(slot.histogram.count(), 3u);
    EXPECT_EQ(slot.outstanding_ios, 0u);
}

TEST(PathSlotTest, DeadlineIsTheFloorUntilLatencyIsMeasured) {
    PathSlot slot;
    EXPECT_EQ(slot.Deadline(seconds(1), seconds(30), 10), seconds(1));
}

TEST(PathSlotTest, DeadlineIsFactorTimesLatencyClampedBetweenFloorAndCeiling) {
    PathSlot slot;
    Transfer(slot, 1 << 20, kT0, milliseconds(10));
    EXPECT_EQ(slot.Deadline(milliseconds(50), seconds(30), 10), milliseconds(100));
    EXPECT_EQ(slot.Deadline(seconds(1), seconds(30), 10), seconds(1));
    EXPECT_EQ(slot.Deadline(milliseconds(10), milliseconds(60), 10), milliseconds(60));
    PathSlot slow;
    Transfer(slow, 1 << 20, kT0, seconds(10));
    EXPECT_EQ(slow.Deadline(seconds(1), seconds(30), 10), seconds(30));
}

TEST(PathSlotTest, NoteDownDoublesTheWindowPerRecentFailureUpToTheMaximum) {
    PathSlot slot;
    std::vector<Duration> windows;
    for (int i = 0; i < 7; ++i) {
        windows.push_back(slot.NoteDown(kT0 + seconds(i), seconds(2), seconds(60), seconds(10)));
    }
    EXPECT_EQ(windows, (std::vector<Duration>{seconds(2), seconds(4), seconds(8), seconds(16),
                                              seconds(32), seconds(60), seconds(60)}));
    EXPECT_EQ(slot.counters.path_failures, 7u);
}

TEST(PathSlotTest, NoteDownGivesOneOffFailuresTheBaseWindowWhateverCameBefore) {
    // A path healed three times in a minute, each failure a one-off: 2 s each time (the old
    // damping, doubling per failure in the last two minutes, gave 2, 4 and 8 s).
    PathSlot slot;
    for (int at : {0, 20, 40}) {
        EXPECT_EQ(slot.NoteDown(kT0 + seconds(at), seconds(2), seconds(60), seconds(10)),
                  seconds(2))
            << "failure at " << at << " s";
    }
    EXPECT_EQ(slot.counters.path_failures, 3u);
}

TEST(PathSlotTest, NoteDownForgivesOneFailurePerQuietSpell) {
    PathSlot slot;
    for (int i = 0; i < 7; ++i)
        slot.NoteDown(kT0 + seconds(i), seconds(2), seconds(60), seconds(10));
    // Seven strikes; 25 s of quiet forgive two of them: the eighth failure counts as the sixth.
    EXPECT_EQ(slot.NoteDown(kT0 + seconds(6 + 25), seconds(2), seconds(60), seconds(10)),
              seconds(60));
    // 39 s more forgive three: the ninth counts as the fourth.
    EXPECT_EQ(slot.NoteDown(kT0 + seconds(31 + 39), seconds(2), seconds(60), seconds(10)),
              seconds(16));
    // Long quiet forgives everything.
    EXPECT_EQ(slot.NoteDown(kT0 + seconds(1000), seconds(2), seconds(60), seconds(10)), seconds(2));
}

// Runs Balance over `slots` for one request.
void BalanceOnce(std::vector<PathSlot>& slots, std::vector<uint64_t> bytes,
                 std::vector<Duration> finished) {
    std::vector<PathSlot*> ptrs;
    for (PathSlot& s : slots) ptrs.push_back(&s);
    PathSlot::Balance(ptrs, bytes, finished);
}

TEST(PathSlotTest, BalanceLowersTheLastPathByItsOtherSharesAndRaisesTheOthersByTheirOwn) {
    std::vector<PathSlot> slots(3);
    BalanceOnce(slots, {512, 256, 256}, {milliseconds(4), milliseconds(5), milliseconds(3)});
    const double g = PathSlot::kBalanceGain;
    EXPECT_DOUBLE_EQ(slots[0].balance, std::exp(g * 0.5));
    EXPECT_DOUBLE_EQ(slots[1].balance, std::exp(g * (0.25 - 1)));
    EXPECT_DOUBLE_EQ(slots[2].balance, std::exp(g * 0.25));
    EXPECT_NEAR(slots[0].balance * slots[1].balance * slots[2].balance, 1.0, 1e-12);
}

TEST(PathSlotTest, BalanceSplitsLastPlaceBetweenPathsThatTieAndIgnoresARequestThatEndedAtOnce) {
    std::vector<PathSlot> slots(2);
    BalanceOnce(slots, {100, 300}, {milliseconds(2), milliseconds(2)});
    EXPECT_EQ(slots[0].balance, 1.0);
    EXPECT_EQ(slots[1].balance, 1.0);

    std::vector<PathSlot> three(3);
    BalanceOnce(three, {100, 100, 200}, {milliseconds(3), milliseconds(3), milliseconds(1)});
    const double g = PathSlot::kBalanceGain;
    EXPECT_DOUBLE_EQ(three[0].balance, std::exp(g * (0.25 - 0.5)));
    EXPECT_DOUBLE_EQ(three[1].balance, std::exp(g * (0.25 - 0.5)));
    EXPECT_DOUBLE_EQ(three[2].balance, std::exp(g * 0.5));
}

TEST(PathSlotTest, BalanceIsUnmovedByPathsThatFinishLastAsOftenAsTheirShareSays) {
    // Equal shares, each path last in turn: every weight comes back to where it was.
    std::vector<PathSlot> slots(4);
    for (int round = 0; round < 25; ++round) {
        for (size_t last = 0; last < slots.size(); ++last) {
            std::vector<Duration> finished(slots.size(), milliseconds(4));
            finished[last] = milliseconds(5);
            BalanceOnce(slots, {256, 256, 256, 256}, finished);
        }
    }
    for (const PathSlot& s : slots) EXPECT_NEAR(s.balance, 1.0, 1e-9);
}

TEST(PathSlotTest, BalanceOfAPathThatIsAlwaysLastStopsAtTheBounds) {
    std::vector<PathSlot> slots(2);
    for (int i = 0; i < 1000; ++i) {
        BalanceOnce(slots, {512, 512}, {milliseconds(4), milliseconds(6)});
    }
    EXPECT_DOUBLE_EQ(slots[0].balance, PathSlot::kBalanceMax);
    EXPECT_DOUBLE_EQ(slots[1].balance, PathSlot::kBalanceMin);
}

TEST(PathSlotTest, BalanceFadesTowardOneWithTheTimeSinceItWasLastDecayed) {
    PathSlot slot;
    slot.balance = 1.5;
    slot.DecayBalance(kT0);  // the first call only starts the clock
    EXPECT_DOUBLE_EQ(slot.balance, 1.5);
    slot.DecayBalance(kT0 + PathSlot::kBalanceMemory);
    EXPECT_NEAR(std::log(slot.balance), std::log(1.5) / std::exp(1.0), 1e-12);
    slot.DecayBalance(kT0);  // time does not run backwards for it
    EXPECT_NEAR(std::log(slot.balance), std::log(1.5) / std::exp(1.0), 1e-12);
    slot.balance = 0.7;
    slot.DecayBalance(kT0 + PathSlot::kBalanceMemory * 50);
    EXPECT_NEAR(slot.balance, 1.0, 1e-9);
}

TEST(PathSlotTest, SlotStatesHaveNames) {
    EXPECT_STREQ(SlotStateName(SlotState::kActive), "active");
    EXPECT_STREQ(SlotStateName(SlotState::kProbation), "probation");
    EXPECT_STREQ(SlotStateName(SlotState::kDown), "down");
    EXPECT_STREQ(SlotStateName(SlotState::kRemoved), "removing");
}

}  // namespace
}  // namespace lunfs
