#include "core/range_lock.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace lunfs {
namespace {

// Records the order in which requests are granted; each request is named by the test.
class RangeLockTest : public ::testing::Test {
  protected:
    // Asks for [begin, end) on behalf of `name`; the ticket lands in tickets_[name] when granted.
    void Ask(int name, uint64_t begin, uint64_t end) {
        lock_.Acquire(begin, end, [this, name](RangeLock::Ticket ticket) {
            granted_.push_back(name);
            tickets_[name] = ticket;
        });
    }
    void Give(int name) {
        ASSERT_NE(tickets_[name], 0u) << name << " was never granted";
        lock_.Release(tickets_[name]);
    }

    RangeLock lock_;
    std::vector<int> granted_;
    std::map<int, RangeLock::Ticket> tickets_;
};

TEST_F(RangeLockTest, GrantsAtOnceInsideAcquireWhenFree) {
    Ask(1, 0, 512);
    EXPECT_EQ(granted_, (std::vector<int>{1}));
    EXPECT_EQ(lock_.Held(), 1u);
    EXPECT_EQ(lock_.Waiting(), 0u);
}

TEST_F(RangeLockTest, GrantsNonOverlappingRangesTogether) {
    Ask(1, 0, 512);
    Ask(2, 512, 1024);  // touches 1 but does not overlap: ranges are half-open
    Ask(3, 4096, 8192);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(lock_.Held(), 3u);
    EXPECT_EQ(lock_.Waiting(), 0u);
}

TEST_F(RangeLockTest, OverlappingRequestWaitsForTheHolder) {
    Ask(1, 0, 1024);
    Ask(2, 1023, 2048);
    EXPECT_EQ(granted_, (std::vector<int>{1}));
    EXPECT_EQ(lock_.Held(), 1u);
    EXPECT_EQ(lock_.Waiting(), 1u);

    Give(1);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2}));
    EXPECT_EQ(lock_.Held(), 1u);
    EXPECT_EQ(lock_.Waiting(), 0u);
}

TEST_F(RangeLockTest, ContainedRangeWaits) {
    Ask(1, 0, 8192);
    Ask(2, 1000, 1001);
    EXPECT_EQ(granted_, (std::vector<int>{1}));
    Give(1);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2}));
}

TEST_F(RangeLockTest, OverlappingWaitersAreGrantedInArrivalOrder) {
    Ask(1, 0, 512);
    Ask(2, 0, 512);
    Ask(3, 0, 512);
    Ask(4, 0, 512);
    EXPECT_EQ(lock_.Waiting(), 3u);

    Give(1);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2}));
    Give(2);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2, 3}));
    Give(3);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2, 3, 4}));
    EXPECT_EQ(lock_.Waiting(), 0u);
    EXPECT_EQ(lock_.Held(), 1u);
    Give(4);
    EXPECT_EQ(lock_.Held(), 0u);
}

TEST_F(RangeLockTest, ReleaseGrantsEveryWaiterThatBecameFree) {
    Ask(1, 0, 4096);
    Ask(2, 0, 512);
    Ask(3, 1024, 1536);
    Ask(4, 2048, 4096);
    EXPECT_EQ(lock_.Waiting(), 3u);

    Give(1);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2, 3, 4}));
    EXPECT_EQ(lock_.Held(), 3u);
    EXPECT_EQ(lock_.Waiting(), 0u);
}

// A waiter is granted only when no earlier entry, granted or still waiting, overlaps it: a later
// request may not overtake an earlier waiter it overlaps, even when the holder does not block it.
TEST_F(RangeLockTest, LaterRequestDoesNotOvertakeAnEarlierWaiterItOverlaps) {
    Ask(1, 0, 512);     // holder
    Ask(2, 0, 1024);    // waits for 1
    Ask(3, 512, 1024);  // free of 1, but overlaps waiter 2
    EXPECT_EQ(granted_, (std::vector<int>{1}));
    EXPECT_EQ(lock_.Waiting(), 2u);

    Give(1);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2}));
    EXPECT_EQ(lock_.Waiting(), 1u);
    Give(2);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2, 3}));
}

TEST_F(RangeLockTest, LaterRequestOvertakesEarlierWaitersItDoesNotOverlap) {
    Ask(1, 0, 512);
    Ask(2, 0, 512);       // waits for 1
    Ask(3, 8192, 16384);  // overlaps nothing earlier
    EXPECT_EQ(granted_, (std::vector<int>{1, 3}));
    EXPECT_EQ(lock_.Held(), 2u);
    EXPECT_EQ(lock_.Waiting(), 1u);
}

TEST_F(RangeLockTest, WaiterBlockedByTwoHoldersWaitsForBoth) {
    Ask(1, 0, 512);
    Ask(2, 512, 1024);
    Ask(3, 0, 1024);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2}));

    Give(2);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2}));
    EXPECT_EQ(lock_.Waiting(), 1u);
    Give(1);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2, 3}));
}

TEST_F(RangeLockTest, ReleasingOutOfOrderGrantsOnlyUnblockedWaiters) {
    Ask(1, 0, 512);
    Ask(2, 1024, 1536);
    Ask(3, 0, 512);      // waits for 1
    Ask(4, 1024, 1536);  // waits for 2
    Give(2);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2, 4}));
    Give(1);
    EXPECT_EQ(granted_, (std::vector<int>{1, 2, 4, 3}));
}

TEST_F(RangeLockTest, TicketsAreDistinct) {
    Ask(1, 0, 512);
    Ask(2, 512, 1024);
    Ask(3, 1024, 1536);
    EXPECT_NE(tickets_[1], tickets_[2]);
    EXPECT_NE(tickets_[2], tickets_[3]);
    EXPECT_NE(tickets_[1], tickets_[3]);
}

TEST_F(RangeLockTest, CallbackMayReleaseInsideAcquire) {
    std::vector<int> order;
    lock_.Acquire(0, 512, [&](RangeLock::Ticket t) {
        order.push_back(1);
        lock_.Release(t);
    });
    lock_.Acquire(0, 512, [&](RangeLock::Ticket t) {
        order.push_back(2);
        lock_.Release(t);
    });
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
    EXPECT_EQ(lock_.Held(), 0u);
    EXPECT_EQ(lock_.Waiting(), 0u);
}

TEST_F(RangeLockTest, GrantedCallbackMayAcquireAgainWithoutDeadlock) {
    Ask(1, 0, 512);
    bool inner_granted = false;
    lock_.Acquire(0, 512, [&](RangeLock::Ticket t) {
        lock_.Acquire(0, 512, [&](RangeLock::Ticket) { inner_granted = true; });
        lock_.Release(t);
    });
    EXPECT_FALSE(inner_granted);
    Give(1);  // grants the outer, which asks again and releases, which grants the inner
    EXPECT_TRUE(inner_granted);
    EXPECT_EQ(lock_.Held(), 1u);
    EXPECT_EQ(lock_.Waiting(), 0u);
}

}  // namespace
}  // namespace lunfs
