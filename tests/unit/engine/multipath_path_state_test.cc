// MultipathDevice: paths going down and coming back, queueing while none is live, failback with
// probation and damping, adding and removing paths at runtime, and Stats().
#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "engine/multipath_device.h"
#include "tests/unit/engine/multipath_fixture.h"

namespace lunfs {
namespace {

using fakes::FakePath;
using std::chrono::milliseconds;
using std::chrono::seconds;

class MultipathPathStateTest : public MultipathFixture {
  protected:
    std::string SlotState(size_t index) const { return StatsOf(index).slot_state; }

    // Path `index` fails and logs in again.
    void Bounce(size_t index) {
        paths_[index]->SetState(PathState::kDown);
        paths_[index]->SetState(PathState::kConnecting);
        paths_[index]->SetState(PathState::kUp);
    }

    // Expects path `index`, on probation now, to become active after exactly `window`.
    void ExpectRejoinsAfter(size_t index, Duration window) {
        SCOPED_TRACE(testing::Message()
                     << "window " << std::chrono::duration_cast<milliseconds>(window).count()
                     << " ms");
        EXPECT_EQ(SlotState(index), "probation");
        clock_->Advance(window - milliseconds(1));
        dev_->Tick();
        EXPECT_EQ(SlotState(index), "probation");
        clock_->Advance(milliseconds(1));
        dev_->Tick();
        EXPECT_EQ(SlotState(index), "active");
    }
};

TEST_F(MultipathPathStateTest, QueuesExtentsWhileNoPathIsLiveAndSendsThemWhenOneReturns) {
    EngineOptions options = Options();
    options.max_extent_bytes = 256 * kKiB;
    Start(2, options);
    const std::vector<uint8_t> stored = Pattern(kMiB, 1);
    store_->Write(0, stored);
    for (const auto& p : paths_) p->SetState(PathState::kDown);
    std::vector<uint8_t> buffer(kMiB);
    auto read = Read(0, buffer);
    EXPECT_EQ(PendingEverywhere(), 0u);
    EXPECT_EQ(dev_->Stats().queued_extents, 4u);
    clock_->Advance(seconds(10));
    dev_->Tick();
    EXPECT_EQ(PendingEverywhere(), 0u);
    EXPECT_EQ(read->calls, 0);
    paths_[1]->SetState(PathState::kUp);
    dev_->Tick();
    EXPECT_EQ(paths_[1]->Pending(), 4u);
    EXPECT_EQ(dev_->Stats().queued_extents, 0u);
    paths_[1]->CompleteAll();
    ASSERT_EQ(read->calls, 1);
    EXPECT_TRUE(read->status.ok()) << read->status.ToString();
    EXPECT_EQ(buffer, stored);
}

TEST_F(MultipathPathStateTest, FailsQueuedExtentsWithEioOnceNoPathTimeoutPasses) {
    EngineOptions options = Options();
    options.no_path_timeout = seconds(5);
    Start(2, options);
    for (const auto& p : paths_) p->SetState(PathState::kDown);
    std::vector<uint8_t> buffer(kMiB);
    auto read = Read(0, buffer);
    clock_->Advance(seconds(5) - milliseconds(1));
    dev_->Tick();
    EXPECT_EQ(read->calls, 0);
    clock_->Advance(milliseconds(1));
    dev_->Tick();
    ASSERT_EQ(read->calls, 1);
    EXPECT_EQ(read->status.code(), EIO);
    EXPECT_EQ(dev_->Stats().queued_extents, 0u);
    EXPECT_EQ(dev_->Stats().failed_requests, 1u);
    paths_[0]->SetState(PathState::kUp);
    dev_->Tick();
    EXPECT_EQ(PendingEverywhere(), 0u);
    EXPECT_EQ(read->calls, 1);
}

TEST_F(MultipathPathStateTest, FailsAtOnceWithEioWhenNoPathTimeoutIsZero) {
    EngineOptions options = Options();
    options.no_path_timeout = Duration::zero();
    Start(2, options);
    for (const auto& p : paths_) p->SetState(PathState::kDown);
    std::vector<uint8_t> buffer(kMiB);
    auto read = Read(0, buffer);
    ASSERT_EQ(read->calls, 1);
    EXPECT_EQ(read->status.code(), EIO);
    EXPECT_EQ(dev_->Stats().queued_extents, 0u);
}

TEST_F(MultipathPathStateTest, RetriesOnTheSamePathWhenItWasTheOnlyOneAndCameBack) {
    Start(1);
    std::vector<uint8_t> buffer(64 * kKiB);
    auto read = Read(0, buffer);
    ASSERT_TRUE(paths_[0]->Complete(0, PathDropped()));
    EXPECT_EQ(dev_->Stats().queued_extents, 1u);
    Bounce(0);
    EXPECT_EQ(SlotState(0), "active");  // no other path: no probation
    dev_->Tick();
    ASSERT_EQ(paths_[0]->Pending(), 1u);
    paths_[0]->CompleteAll();
    EXPECT_EQ(read->calls, 1);
    EXPECT_TRUE(read->status.ok());
}

TEST_F(MultipathPathStateTest, FailsABusyRetryWithEioWhenNoPathReturnsWithinNoPathTimeout) {
    EngineOptions options = Options();
    options.no_path_timeout = seconds(5);
    Start(1, options);
    std::vector<uint8_t> buffer(64 * kKiB);
    auto read = Read(0, buffer);
    ASSERT_TRUE(paths_[0]->Complete(0, Status::Retryable(EBUSY, "busy", Scope::kExtent)));
    paths_[0]->SetState(PathState::kDown);
    clock_->Advance(seconds(1));
    dev_->Tick();
    clock_->Advance(seconds(10));
    dev_->Tick();
    ASSERT_EQ(read->calls, 1) << "the retried extent waits for a path forever";
    EXPECT_EQ(read->status.code(), EIO);
}

TEST_F(MultipathPathStateTest, KeepsAReturningPathOnProbationUntilItsStableWindowPasses) {
    EngineOptions options = Options();
    options.deadline_floor = seconds(30);  // the reads below stay in flight for 2 s
    Start(2, options);
    paths_[0]->SetState(PathState::kDown);
    EXPECT_EQ(SlotState(0), "down");
    paths_[0]->SetState(PathState::kUp);
    EXPECT_EQ(SlotState(0), "probation");
    std::vector<uint8_t> b1(kMiB), b2(kMiB), b3(kMiB);
    auto r1 = Read(0, b1);
    EXPECT_EQ(paths_[0]->Pending(), 0u);
    clock_->Advance(seconds(2) - milliseconds(1));
    dev_->Tick();
    EXPECT_EQ(SlotState(0), "probation");
    auto r2 = Read(0, b2);
    EXPECT_EQ(paths_[0]->Pending(), 0u);
    EXPECT_EQ(paths_[1]->Pending(), 2u);
    clock_->Advance(milliseconds(1));
    dev_->Tick();
    EXPECT_EQ(SlotState(0), "active");
    auto r3 = Read(0, b3);
    EXPECT_EQ(paths_[0]->Pending(), 1u);
    for (const auto& p : paths_) p->CompleteAll();
    EXPECT_EQ(r1->calls + r2->calls + r3->calls, 3);
}

TEST_F(MultipathPathStateTest, DoesNotRejoinAProbationPathThatIsNoLongerUp) {
    Start(2);
    Bounce(0);
    clock_->Advance(seconds(1));
    paths_[0]->SetState(PathState::kConnecting);  // fails again while on probation
    EXPECT_EQ(SlotState(0), "down");
    clock_->Advance(seconds(10));
    dev_->Tick();
    EXPECT_EQ(SlotState(0), "down");
}

TEST_F(MultipathPathStateTest, DoublesTheStableWindowOfAPathThatKeepsFailingUpToTheMaximum) {
    EngineOptions options = Options();
    options.stable_window = seconds(2);
    options.stable_window_max = seconds(10);
    options.damping_forgive = seconds(10);
    Start(2, options);
    for (int s : {2, 4, 8, 10, 10}) {
        Bounce(0);
        ExpectRejoinsAfter(0, seconds(s));
    }
    EXPECT_EQ(StatsOf(0).counters.path_failures, 5u);
}

TEST_F(MultipathPathStateTest, LengthensTheWindowOfAPathThatFailsOnProbation) {
    Start(2);
    Bounce(0);
    clock_->Advance(seconds(1));
    Bounce(0);
    ExpectRejoinsAfter(0, seconds(4));
}

TEST_F(MultipathPathStateTest, ForgivesFailuresAfterAQuietSpell) {
    EngineOptions options = Options();
    options.damping_forgive = seconds(30);
    Start(2, options);
    Bounce(0);
    ExpectRejoinsAfter(0, seconds(2));
    clock_->Advance(seconds(40));
    Bounce(0);
    ExpectRejoinsAfter(0, seconds(2));
}

TEST_F(MultipathPathStateTest, UsesAReturningPathAtOnceWhenNoOtherPathIsActive) {
    Start(2);
    paths_[0]->SetState(PathState::kDown);
    paths_[1]->SetState(PathState::kDown);
    paths_[0]->SetState(PathState::kUp);
    EXPECT_EQ(SlotState(0), "active");
    EXPECT_EQ(SlotState(1), "down");
    std::vector<uint8_t> buffer(kMiB);
    auto read = Read(0, buffer);
    EXPECT_EQ(paths_[0]->Pending(), 1u);
    // The second one to return has an active path beside it: probation.
    paths_[1]->SetState(PathState::kUp);
    EXPECT_EQ(SlotState(1), "probation");
}

TEST_F(MultipathPathStateTest, UsesAPathOnProbationAtOnceWhenTheLastActivePathFails) {
    EngineOptions options = Options();
    options.stable_window = seconds(10);
    options.no_path_timeout = seconds(5);
    Start(2, options);
    Bounce(0);
    EXPECT_EQ(SlotState(0), "probation");
    paths_[1]->SetState(PathState::kDown);
    std::vector<uint8_t> buffer(64 * kKiB);
    auto read = Read(0, buffer);
    dev_->Tick();
    EXPECT_EQ(paths_[0]->Pending(), 1u) << "path 0 is up and the only one left";
    paths_[0]->CompleteAll();
    clock_->Advance(seconds(6));
    dev_->Tick();
    ASSERT_EQ(read->calls, 1);
    EXPECT_TRUE(read->status.ok()) << read->status.ToString();
}

TEST_F(MultipathPathStateTest, FailoverPolicySendsEverythingToTheBestPathUntilItDrops) {
    EngineOptions options = Options();
    options.picker.policy = Policy::kFailover;
    Start(3, options);
    std::vector<uint8_t> b1(kMiB), b2(kMiB);
    auto r1 = Read(0, b1);
    EXPECT_EQ(paths_[0]->Pending(), 1u);
    EXPECT_EQ(PendingEverywhere(), 1u);
    paths_[0]->SetState(PathState::kDown);
    auto r2 = Read(0, b2);
    EXPECT_EQ(paths_[1]->Pending(), 1u);
    EXPECT_EQ(paths_[2]->Pending(), 0u);
}

TEST_F(MultipathPathStateTest, AddPathRefusesAPathToAnotherLunAndNamesBothIdentities) {
    Start(1);
    auto stranger = MakePath("stranger", PathState::kUp, "naa.60014059999999999999999999999999");
    const Status s = dev_->AddPath(stranger);
    EXPECT_EQ(s.code(), EINVAL);
    EXPECT_NE(s.message().find("naa.60014059999999999999999999999999"), std::string::npos)
        << s.message();
    EXPECT_NE(s.message().find(kIdentity), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("stranger"), std::string::npos) << s.message();
    EXPECT_EQ(dev_->Stats().paths.size(), 1u);
    EXPECT_FALSE(stranger->has_listener());
}

TEST_F(MultipathPathStateTest, AddPathRefusesAnotherCapacityAndANameAlreadyInUse) {
    Start(1);
    auto smaller = std::make_shared<FakePath>(
        "smaller", fakes::MakeLunInfo(kIdentity, kBlock, kLunBlocks / 2), store_);
    EXPECT_EQ(dev_->AddPath(smaller).code(), EINVAL);
    auto bigger_blocks = std::make_shared<FakePath>(
        "4k", fakes::MakeLunInfo(kIdentity, 4096, kLunBlocks / 8), store_);
    EXPECT_EQ(dev_->AddPath(bigger_blocks).code(), EINVAL);
    EXPECT_EQ(dev_->AddPath(MakePath("path0")).code(), EEXIST);
    EXPECT_EQ(dev_->Stats().paths.size(), 1u);
}

TEST_F(MultipathPathStateTest, AddedPathThatIsUpTakesNewExtentsAtOnce) {
    Start(1);
    paths_.push_back(MakePath("path1"));
    ASSERT_TRUE(dev_->AddPath(paths_[1]).ok());
    EXPECT_EQ(SlotState(1), "active");
    EXPECT_EQ(StatsOf(1).priority, 1);
    std::vector<uint8_t> buffer(kMiB);
    auto read = Read(0, buffer);
    EXPECT_EQ(paths_[0]->Pending(), 1u);
    EXPECT_EQ(paths_[1]->Pending(), 1u);
    for (const auto& p : paths_) p->CompleteAll();
    EXPECT_TRUE(read->status.ok());
}

TEST_F(MultipathPathStateTest, AddedPathThatIsStillConnectingJoinsWhenItComesUp) {
    Start(1);
    paths_.push_back(MakePath("path1", PathState::kConnecting));
    ASSERT_TRUE(dev_->AddPath(paths_[1]).ok());
    EXPECT_EQ(SlotState(1), "down");
    paths_[1]->SetState(PathState::kUp);
    dev_->Tick();
    EXPECT_EQ(SlotState(1), "active");  // a new path has no failures to live down
}

TEST_F(MultipathPathStateTest, RemovePathDrainsThenDropsThePath) {
    Start(2);
    std::vector<uint8_t> b1(kMiB), b2(kMiB);
    auto r1 = Read(0, b1);
    ASSERT_EQ(paths_[0]->Pending(), 1u);
    ASSERT_TRUE(dev_->RemovePath("path0").ok());
    EXPECT_EQ(SlotState(0), "removing");
    auto r2 = Read(0, b2);
    EXPECT_EQ(paths_[0]->Pending(), 1u);  // nothing new
    EXPECT_EQ(paths_[1]->Pending(), 2u);
    dev_->Tick();
    EXPECT_EQ(dev_->Stats().paths.size(), 2u);  // still draining
    EXPECT_TRUE(paths_[0]->has_listener());
    paths_[0]->CompleteAll();
    EXPECT_EQ(r1->calls, 0);
    dev_->Tick();
    const LunStats stats = dev_->Stats();
    ASSERT_EQ(stats.paths.size(), 1u);
    EXPECT_EQ(stats.paths[0].name, "path1");
    EXPECT_FALSE(paths_[0]->has_listener());
    paths_[1]->CompleteAll();
    EXPECT_TRUE(r1->status.ok());
    EXPECT_TRUE(r2->status.ok());
    EXPECT_EQ(r1->calls + r2->calls, 2);
}

TEST_F(MultipathPathStateTest, RemovePathRefusesTheLastPathAndUnknownNames) {
    Start(2);
    EXPECT_EQ(dev_->RemovePath("nowhere").code(), ENOENT);
    EXPECT_TRUE(dev_->RemovePath("path1").ok());
    EXPECT_EQ(dev_->RemovePath("path1").code(), ENOENT);
    const Status last = dev_->RemovePath("path0");
    EXPECT_EQ(last.code(), EBUSY);
    EXPECT_NE(last.message().find("path0"), std::string::npos);
    EXPECT_EQ(SlotState(0), "active");
}

TEST_F(MultipathPathStateTest, StatsReflectStatesAndCounters) {
    Start(2);
    std::vector<uint8_t> buffer(512 * kKiB);
    auto read = Read(0, buffer);
    clock_->Advance(PathSlot::kRateWindow);  // one full throughput window
    for (const auto& p : paths_) p->CompleteAll();
    ASSERT_TRUE(read->status.ok());
    paths_[1]->SetState(PathState::kDown);
    auto write = Write(0, buffer);  // all of it on path 0

    const LunStats stats = dev_->Stats();
    EXPECT_EQ(stats.identity, kIdentity);
    EXPECT_EQ(stats.capacity, kLunBlocks * kBlock);
    EXPECT_EQ(stats.block_size, kBlock);
    EXPECT_EQ(stats.policy, "spread");
    EXPECT_EQ(stats.requests, 2u);
    EXPECT_EQ(stats.failed_requests, 0u);
    EXPECT_EQ(stats.queued_extents, 0u);
    ASSERT_EQ(stats.paths.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        SCOPED_TRACE(i);
        const PathStats& p = stats.paths[i];
        EXPECT_EQ(p.name, "path" + std::to_string(i));
        EXPECT_EQ(p.priority, static_cast<int>(i));
        EXPECT_EQ(p.counters.reads, 1u);
        EXPECT_EQ(p.counters.bytes_read, 256 * kKiB);
        EXPECT_EQ(p.counters.writes, 0u);
        EXPECT_DOUBLE_EQ(p.latency_ewma_us, 20000.0);
        EXPECT_DOUBLE_EQ(p.latency_p99_us, 32768.0);
        EXPECT_DOUBLE_EQ(p.bytes_per_second, 256.0 * 1024 / 0.020);
    }
    EXPECT_EQ(stats.paths[0].in_flight, 1u);
    EXPECT_EQ(stats.paths[0].in_flight_bytes, 512 * kKiB);
    EXPECT_EQ(stats.paths[1].in_flight, 0u);
    EXPECT_EQ(stats.paths[1].in_flight_bytes, 0u);
    EXPECT_EQ(stats.paths[0].path_state, "up");
    EXPECT_EQ(stats.paths[0].slot_state, "active");
    EXPECT_EQ(stats.paths[0].counters.path_failures, 0u);
    EXPECT_EQ(stats.paths[1].path_state, "down");
    EXPECT_EQ(stats.paths[1].slot_state, "down");
    EXPECT_EQ(stats.paths[1].counters.path_failures, 1u);
    for (const auto& p : paths_) p->CompleteAll();
    EXPECT_EQ(dev_->Stats().paths[0].counters.writes, 1u);
    EXPECT_EQ(write->calls, 1);
}

TEST_F(MultipathPathStateTest, DestructorDetachesFromEveryPath) {
    Start(3);
    for (const auto& p : paths_) EXPECT_TRUE(p->has_listener());
    dev_.reset();
    for (const auto& p : paths_) EXPECT_FALSE(p->has_listener());
}

}  // namespace
}  // namespace lunfs
