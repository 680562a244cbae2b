// MultipathDevice: what keeps data safe beyond ordering — discards fenced like writes, durable
// writes (FUA or SYNCHRONIZE CACHE), the flush's own deadline, and shutting down with I/O in
// flight.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "tests/unit/engine/multipath_fixture.h"

namespace lunfs {
namespace {

using std::chrono::seconds;

class MultipathIntegrityTest : public MultipathFixture {
  protected:
    std::shared_ptr<Outcome> DurableWrite(uint64_t offset, std::vector<uint8_t>& buffer) {
        auto outcome = std::make_shared<Outcome>();
        dev_->Submit(IoRequest{IoOp::kWrite,
                               offset,
                               {iovec{buffer.data(), buffer.size()}},
                               [outcome](Status s) {
                                   ++outcome->calls;
                                   outcome->status = std::move(s);
                               },
                               kIoWriteThrough | kIoDurable});
        return outcome;
    }
    // Destroys the device on a thread of its own; false when that has not returned after 10 s
    // (a deadlocked destructor is left behind, and with it the device).
    bool DestroyedInTime() {
        auto done = std::make_shared<std::promise<void>>();
        std::future<void> destroyed = done->get_future();
        std::thread([dev = dev_.release(), done] {
            delete dev;
            done->set_value();
        }).detach();
        return destroyed.wait_for(seconds(10)) == std::future_status::ready;
    }
    void Lun(bool write_cache, bool fua) {
        adjust_info_ = [=](LunInfo& info) {
            info.capacity.thin = true;
            info.provisioning.unmap = true;
            info.provisioning.unmapped_zero = true;
            info.limits.max_unmap_blocks = 2048;
            info.write_cache = write_cache;
            info.fua = fua;
        };
    }
};

TEST_F(MultipathIntegrityTest, ADiscardThatFailedOnAPathKeepsItsRangeFencedLikeAWrite) {
    Lun(true, false);
    EngineOptions o = Options();
    o.picker.policy = Policy::kFailover;
    Start(2, o);
    auto d = Discard(0, 64 * kKiB);
    ASSERT_EQ(paths_[0]->Pending(), 1u);
    ASSERT_EQ(paths_[0]->At(0).kind, CommandKind::kUnmap);
    // The UNMAP's first copy may still be on its way over path 0: it is re-sent on path 1.
    ASSERT_TRUE(paths_[0]->Complete(0, PathDropped()));
    ASSERT_EQ(paths_[1]->Pending(), 1u);
    ASSERT_TRUE(paths_[1]->Complete(0));
    ASSERT_EQ(d->calls, 1);
    EXPECT_TRUE(d->status.ok());
    std::vector<uint8_t> newer = Pattern(64 * kKiB, 7);
    auto w = Write(0, newer);
    EXPECT_EQ(PendingEverywhere(), 0u)
        << "newer data went out while the first UNMAP could still land after it and zero it";
    paths_[0]->SetState(PathState::kUp);  // its new login travelled behind the old UNMAP
    ASSERT_EQ(PendingEverywhere(), 1u);
    for (const auto& p : paths_) p->CompleteAll();
    EXPECT_TRUE(w->status.ok());
    EXPECT_EQ(store_->Read(0, newer.size()), newer);
}

TEST_F(MultipathIntegrityTest, ADurableWriteGoesOutWithFuaWhereTheLunHonoursIt) {
    Lun(true, true);
    Start(2);
    std::vector<uint8_t> data = Pattern(256 * kKiB, 3);
    auto w = DurableWrite(0, data);
    ASSERT_EQ(PendingEverywhere(), 2u);
    for (const auto& p : paths_) {
        for (const auto& c : p->PendingCommands()) EXPECT_TRUE(c.fua);
    }
    for (const auto& p : paths_) p->CompleteAll();
    EXPECT_EQ(w->calls, 1);
    EXPECT_TRUE(w->status.ok());
    EXPECT_EQ(PendingEverywhere(), 0u) << "FUA needs no SYNCHRONIZE CACHE";
}

TEST_F(MultipathIntegrityTest, ADurableWriteCompletesOnlyAfterSynchronizeCacheWithoutFua) {
    Lun(true, false);
    Start(2);
    std::vector<uint8_t> data = Pattern(256 * kKiB, 4);
    auto w = DurableWrite(0, data);
    ASSERT_EQ(PendingEverywhere(), 2u);
    for (const auto& p : paths_) {
        for (const auto& c : p->PendingCommands()) EXPECT_FALSE(c.fua);
    }
    for (const auto& p : paths_) p->CompleteAll();
    EXPECT_EQ(w->calls, 0) << "acknowledged while the data may sit in the target's write cache";
    ASSERT_EQ(PendingEverywhere(), 1u);
    std::shared_ptr<fakes::FakePath> holder = paths_[0]->Pending() ? paths_[0] : paths_[1];
    EXPECT_EQ(holder->At(0).kind, CommandKind::kSyncCache);
    // A SYNCHRONIZE CACHE that fails with its path is sent again on the other.
    ASSERT_TRUE(holder->Complete(0, PathDropped()));
    ASSERT_EQ(PendingEverywhere(), 1u);
    for (const auto& p : paths_) p->CompleteAll();
    EXPECT_EQ(w->calls, 1);
    EXPECT_TRUE(w->status.ok());
}

TEST_F(MultipathIntegrityTest, ADurableWriteThatFailedSendsNoSynchronizeCache) {
    Lun(true, false);
    Start(1);
    std::vector<uint8_t> data = Pattern(64 * kKiB, 5);
    auto w = DurableWrite(0, data);
    ASSERT_TRUE(paths_[0]->Complete(0, Status::Fail(EIO, "medium error")));
    EXPECT_EQ(w->calls, 1);
    EXPECT_EQ(w->status.code(), EIO);
    EXPECT_EQ(PendingEverywhere(), 0u);
}

TEST_F(MultipathIntegrityTest, ADurableWriteNeedsNothingMoreWhereTheWriteCacheIsOff) {
    Lun(false, false);
    Start(1);
    std::vector<uint8_t> data = Pattern(64 * kKiB, 6);
    auto w = DurableWrite(0, data);
    ASSERT_EQ(paths_[0]->Pending(), 1u);
    EXPECT_FALSE(paths_[0]->At(0).fua);
    paths_[0]->CompleteAll();
    EXPECT_EQ(w->calls, 1);
    EXPECT_EQ(PendingEverywhere(), 0u);
}

TEST_F(MultipathIntegrityTest, AnOrdinaryWriteHasNeitherFuaNorSynchronizeCache) {
    Lun(true, true);
    Start(1);
    std::vector<uint8_t> data = Pattern(64 * kKiB, 8);
    auto w = Write(0, data);
    ASSERT_EQ(paths_[0]->Pending(), 1u);
    EXPECT_FALSE(paths_[0]->At(0).fua);
    paths_[0]->CompleteAll();
    EXPECT_EQ(w->calls, 1);
    EXPECT_EQ(PendingEverywhere(), 0u);
}

TEST_F(MultipathIntegrityTest, AFlushTakingLongerThanTheDeadlineFloorDoesNotResetItsPath) {
    Start(1);
    auto flush = Flush();
    ASSERT_EQ(paths_[0]->Pending(), 1u);
    clock_->Advance(seconds(20));  // a target writing out a large cache
    dev_->Tick();
    EXPECT_EQ(paths_[0]->resets(), 0);
    clock_->Advance(Options().sync_deadline);
    dev_->Tick();
    EXPECT_EQ(paths_[0]->resets(), 1) << "a flush that never answers still fails its path";
}

TEST_F(MultipathIntegrityTest, DestroyingTheDeviceWithCommandsInFlightAnswersThemAndReturns) {
    Start(2);
    std::vector<uint8_t> data = Pattern(256 * kKiB, 9);
    auto w = Write(0, data);
    ASSERT_EQ(PendingEverywhere(), 2u);
    for (const auto& p : paths_) p->CancelOnDestroy();
    paths_.clear();  // the device holds the last references: destroying it closes the paths
    ASSERT_TRUE(DestroyedInTime())
        << "the destructor deadlocked on the completions of the paths it closed";
    EXPECT_EQ(w->calls, 1);
    EXPECT_EQ(w->status.code(), ECANCELED);
}

TEST_F(MultipathIntegrityTest, CancelFailsQueuedAndInFlightExtentsAndResendsNothing) {
    Start(2);
    std::vector<uint8_t> a = Pattern(256 * kKiB, 10), b = Pattern(64 * kKiB, 11);
    auto w = Write(0, a);
    ASSERT_EQ(PendingEverywhere(), 2u);
    for (const auto& p : paths_) p->SetState(PathState::kDown);
    auto r = Read(kMiB, b);  // no live path: queued
    EXPECT_EQ(r->calls, 0);
    dev_->Cancel();
    EXPECT_EQ(r->calls, 1);
    EXPECT_EQ(r->status.code(), ECANCELED);
    EXPECT_EQ(w->calls, 1);
    EXPECT_FALSE(w->status.ok());
    EXPECT_EQ(PendingEverywhere(), 0u);
    auto late = Read(0, b);
    EXPECT_EQ(late->calls, 1);
    EXPECT_EQ(late->status.code(), ECANCELED);
}

TEST(TbbExecutorTest, WorkThatThrowsAnythingIsCaughtAndCountedAsFinished) {
    auto executor = std::make_unique<TbbExecutor>(1, 2);
    executor->Run([] { throw 7; });  // on this thread: caught, not thrown back at the caller
    executor->Post([] { throw 42; });
    executor.reset();  // returns only once nothing is left counted as pending
}

TEST_F(MultipathIntegrityTest, PostedWorkWhoseCallbackThrowsStillLetsTheDeviceClose) {
    executor_ = std::make_shared<TbbExecutor>(1, 2);
    EngineOptions o = Options();
    o.no_path_timeout = std::chrono::nanoseconds(0);
    Start(1, o);
    std::vector<uint8_t> a = Pattern(64 * kKiB, 12), b = Pattern(64 * kKiB, 13);
    auto w1 = Write(0, a);
    auto thrown = std::make_shared<std::promise<void>>();
    // The overlapping write is granted on the path's thread when w1 completes, so its split runs
    // as posted work; with no path left it completes there, and its callback throws.
    dev_->Submit(IoRequest{IoOp::kWrite, 0, {iovec{b.data(), b.size()}}, [thrown](Status) {
                               thrown->set_value();
                               throw 1;
                           }});
    paths_[0]->SetState(PathState::kDown);
    ASSERT_TRUE(paths_[0]->Complete(0, Status::Fail(EIO, "medium error")));
    ASSERT_EQ(thrown->get_future().wait_for(seconds(10)), std::future_status::ready);
    EXPECT_TRUE(DestroyedInTime()) << "the device waited forever for posted work that had thrown";
}

}  // namespace
}  // namespace lunfs
