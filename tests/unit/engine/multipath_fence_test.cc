// Rule 5 with a Fencer (paths/fencer.h): a newer write to the bytes of a write whose extent
// failed on a path waits for what the fence mode asks, and only for that.
#include <gtest/gtest.h>

#include <mutex>

#include "tests/unit/engine/multipath_fixture.h"

namespace lunfs {
namespace {

using std::chrono::milliseconds;

// A fencer whose fences complete when the test says.
class FakeFencer final : public Fencer {
  public:
    explicit FakeFencer(FenceMode mode) : mode_(mode) {}
    void Fence(std::function<void(Status)> done) override {
        std::lock_guard lock(mu_);
        pending_.push_back(std::move(done));
        ++calls_;
    }
    FenceMode mode() const override { return mode_.load(); }
    std::string why() const override { return "test"; }

    void SetMode(FenceMode mode) { mode_ = mode; }
    int calls() const {
        std::lock_guard lock(mu_);
        return calls_;
    }
    size_t pending() const {
        std::lock_guard lock(mu_);
        return pending_.size();
    }
    // Answers the oldest fence.
    void Answer(Status s = Status::Ok()) {
        std::function<void(Status)> done;
        {
            std::lock_guard lock(mu_);
            ASSERT_FALSE(pending_.empty());
            done = std::move(pending_.front());
            pending_.erase(pending_.begin());
        }
        done(std::move(s));
    }

  private:
    std::atomic<FenceMode> mode_;
    mutable std::mutex mu_;
    std::vector<std::function<void(Status)>> pending_;
    int calls_ = 0;
};

class MultipathFenceTest : public MultipathFixture {
  protected:
    void StartFenced(FenceMode mode, size_t paths = 2) {
        fence_ = std::make_shared<FakeFencer>(mode);
        fencer_ = fence_;
        EngineOptions o = Options();
        o.picker.policy = Policy::kFailover;
        Start(paths, o);
    }
    // w1 = 64 KiB at 0 fails on path 0, is re-sent on path 1 and completes there.
    void FailAndResendFirstWrite() {
        w1_ = Write(0, first_);
        ASSERT_TRUE(paths_[0]->Complete(0, PathDropped()));
        ASSERT_TRUE(paths_[1]->Complete(0));
        ASSERT_EQ(w1_->calls, 1);
        ASSERT_TRUE(w1_->status.ok());
    }

    std::shared_ptr<FakeFencer> fence_;
    std::vector<uint8_t> first_ = Pattern(64 * kKiB, 11);
    std::vector<uint8_t> second_ = Pattern(64 * kKiB, 21);
    std::shared_ptr<Outcome> w1_;
};

TEST_F(MultipathFenceTest, ANewerWriteWaitsForTheConfirmedFenceNotForALoginOrATimer) {
    StartFenced(FenceMode::kReservation);
    FailAndResendFirstWrite();
    EXPECT_EQ(fence_->calls(), 1) << "the failure of a write's extent asks for a fence";
    auto w2 = Write(4096, second_);  // overlaps w1
    EXPECT_EQ(PendingEverywhere(), 0u);
    // Neither a new login of path 0 nor the timer of the timed fence releases it.
    paths_[0]->SetState(PathState::kUp);
    clock_->Advance(Options().fence_timeout * 2);
    dev_->Tick();
    EXPECT_EQ(PendingEverywhere(), 0u) << "w2 went out before the target confirmed the fence";
    fence_->Answer();
    EXPECT_EQ(PendingEverywhere(), 1u);
    paths_[1]->CompleteAll();
    EXPECT_TRUE(w2->status.ok());
    EXPECT_EQ(dev_->Stats().fences, 1u);
}

TEST_F(MultipathFenceTest, AConfirmedFenceReleasesNewerWritesAtOnce) {
    StartFenced(FenceMode::kReservation);
    FailAndResendFirstWrite();
    fence_->Answer();
    auto w2 = Write(4096, second_);
    EXPECT_EQ(PendingEverywhere(), 1u) << "a newer write waited although the fence was confirmed";
    paths_[1]->CompleteAll();
    EXPECT_TRUE(w2->status.ok());
}

TEST_F(MultipathFenceTest, AFenceTheTargetDidNotConfirmIsTriedAgainAndKeepsTheRangeFenced) {
    StartFenced(FenceMode::kReservation);
    FailAndResendFirstWrite();
    auto w2 = Write(4096, second_);
    fence_->Answer(Status::Fail(EIO, "control session lost"));
    EXPECT_EQ(PendingEverywhere(), 0u);
    EXPECT_EQ(dev_->Stats().fence_failures, 1u);
    dev_->Tick();
    EXPECT_EQ(fence_->calls(), 1) << "retried before its delay";
    clock_->Advance(Options().fence_retry_min);
    dev_->Tick();
    ASSERT_EQ(fence_->calls(), 2);
    fence_->Answer();
    EXPECT_EQ(PendingEverywhere(), 1u);
    paths_[1]->CompleteAll();
    EXPECT_TRUE(w2->status.ok());
}

TEST_F(MultipathFenceTest, AFailureDuringAFenceWaitsForTheNextOne) {
    StartFenced(FenceMode::kReservation, 3);
    std::vector<uint8_t> other = Pattern(64 * kKiB, 41);
    FailAndResendFirstWrite();  // fence 1 starts
    // w3 at 1 MiB fails on path 1 while fence 1 runs; it is re-sent on path 2.
    auto w3 = Write(kMiB, other);
    ASSERT_EQ(paths_[1]->Pending(), 1u);
    ASSERT_TRUE(paths_[1]->Complete(0, PathDropped()));
    ASSERT_TRUE(paths_[2]->Complete(0));
    ASSERT_TRUE(w3->status.ok());
    auto w2 = Write(4096, second_);       // behind w1
    auto w4 = Write(kMiB + 4096, other);  // behind w3
    EXPECT_EQ(PendingEverywhere(), 0u);
    fence_->Answer();  // fence 1: covers w1's failure, not w3's
    EXPECT_EQ(PendingEverywhere(), 1u) << "only w2 may go";
    ASSERT_EQ(fence_->calls(), 2) << "the next fence starts when the first one is answered";
    fence_->Answer();
    EXPECT_EQ(PendingEverywhere(), 2u);
    paths_[2]->CompleteAll();
    EXPECT_TRUE(w2->status.ok());
    EXPECT_TRUE(w4->status.ok());
}

TEST_F(MultipathFenceTest, TheResetFenceAlsoWaitsForTheLoginOrTheTimer) {
    StartFenced(FenceMode::kReset);
    FailAndResendFirstWrite();
    auto w2 = Write(4096, second_);
    fence_->Answer();
    EXPECT_EQ(PendingEverywhere(), 0u) << "bytes below the failed socket are not covered";
    paths_[0]->SetState(PathState::kUp);
    EXPECT_EQ(PendingEverywhere(), 1u);
    paths_[1]->CompleteAll();
    EXPECT_TRUE(w2->status.ok());
}

TEST_F(MultipathFenceTest, AFencerThatFellBackToTheTimerReleasesOnTheTimedRules) {
    StartFenced(FenceMode::kReservation);
    FailAndResendFirstWrite();
    auto w2 = Write(4096, second_);
    fence_->SetMode(FenceMode::kTimed);  // another initiator took the reservation
    clock_->Advance(Options().fence_timeout);
    dev_->Tick();
    EXPECT_EQ(PendingEverywhere(), 1u);
    paths_[1]->CompleteAll();
    EXPECT_TRUE(w2->status.ok());
    fence_->Answer();  // the fence that was running still answers; nothing waits for it
}

TEST_F(MultipathFenceTest, AReadFailingOnAPathAsksForNoFence) {
    StartFenced(FenceMode::kReservation);
    std::vector<uint8_t> buffer(64 * kKiB);
    auto r = Read(0, buffer);
    ASSERT_TRUE(paths_[0]->Complete(0, PathDropped()));
    ASSERT_TRUE(paths_[1]->Complete(0));
    EXPECT_TRUE(r->status.ok());
    EXPECT_EQ(fence_->calls(), 0);
    auto w = Write(0, second_);
    EXPECT_EQ(PendingEverywhere(), 1u);
    paths_[1]->CompleteAll();
}

}  // namespace
}  // namespace lunfs
