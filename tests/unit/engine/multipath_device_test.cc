// MultipathDevice: splitting, reassembly, retries, deadlines, write ordering and flush.
// Path states, failback, runtime path changes and status are in multipath_path_state_test.cc.
#include "engine/multipath_device.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "tests/unit/engine/multipath_fixture.h"

namespace lunfs {
namespace {

using fakes::FakePath;
using fakes::IovBytes;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

class MultipathDeviceTest : public MultipathFixture {};

// The bytes a command's iovecs hold, in order.
std::vector<uint8_t> Gather(const std::vector<iovec>& iov) {
    std::vector<uint8_t> out;
    for (const iovec& v : iov) {
        const auto* p = static_cast<const uint8_t*>(v.iov_base);
        out.insert(out.end(), p, p + v.iov_len);
    }
    return out;
}

// Every command every path received, ordered by LBA.
std::vector<FakePath::Command> AllSubmitted(const std::vector<std::shared_ptr<FakePath>>& paths) {
    std::vector<FakePath::Command> all;
    for (const auto& p : paths) {
        for (auto& c : p->Submitted()) all.push_back(std::move(c));
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.lba < b.lba; });
    return all;
}

TEST_F(MultipathDeviceTest, SendsOneExtentOfA1MiBReadToEachOfFourEqualPaths) {
    Start(4);
    std::vector<uint8_t> buffer(kMiB);
    auto read = Read(kMiB, buffer);
    std::vector<uint64_t> lbas;
    for (const auto& p : paths_) {
        ASSERT_EQ(p->Pending(), 1u) << p->name();
        const FakePath::Command c = p->At(0);
        EXPECT_EQ(c.kind, CommandKind::kRead);
        EXPECT_EQ(c.blocks, 512u);
        EXPECT_EQ(IovBytes(c.iov), 256 * kKiB);
        lbas.push_back(c.lba);
    }
    EXPECT_EQ(lbas, (std::vector<uint64_t>{2048, 2560, 3072, 3584}));
    EXPECT_EQ(read->calls, 0);
}

// The submitting thread may send a request's last extent itself; the paths of the others are
// woken first.
TEST_F(MultipathDeviceTest, MarksOnlyTheLastExtentOfARequestForTheSubmittingThreadToSend) {
    Start(4);
    std::vector<uint8_t> buffer(kMiB);
    auto read = Read(kMiB, buffer);
    std::vector<bool> marks;
    for (const FakePath::Command& c : AllSubmitted(paths_)) marks.push_back(c.send_from_submitter);
    EXPECT_EQ(marks, (std::vector<bool>{false, false, false, true}));
    for (const auto& p : paths_) p->CompleteAll();
    std::vector<uint8_t> small(4 * kKiB);
    auto one = Read(0, small);
    std::vector<FakePath::Command> all = AllSubmitted(paths_);
    ASSERT_EQ(all.size(), 5u);
    EXPECT_EQ(all.front().lba, 0u);
    EXPECT_TRUE(all.front().send_from_submitter);  // a request of one extent
    for (const auto& p : paths_) p->CompleteAll();
    EXPECT_EQ(read->calls, 1);
    EXPECT_EQ(one->calls, 1);
}

TEST_F(MultipathDeviceTest, CompletesARequestOnlyAfterItsLastExtentWithTheStoredBytes) {
    Start(4);
    const std::vector<uint8_t> stored = Pattern(kMiB, 1);
    store_->Write(3 * kMiB, stored);
    std::vector<uint8_t> buffer(kMiB, 0);
    auto read = Read(3 * kMiB, buffer);
    for (size_t i : {3u, 1u, 0u}) {
        ASSERT_TRUE(paths_[i]->Complete(0));
        EXPECT_EQ(read->calls, 0) << "after path " << i;
    }
    ASSERT_TRUE(paths_[2]->Complete(0));
    EXPECT_EQ(read->calls, 1);
    EXPECT_TRUE(read->status.ok()) << read->status.ToString();
    EXPECT_EQ(buffer, stored);
}

TEST_F(MultipathDeviceTest, CutsSharesIntoBlockAlignedExtentsNoLargerThanMaxExtentBytes) {
    EngineOptions options = Options();
    options.max_extent_bytes = 100000;  // 195 whole blocks: 99840 bytes
    Start(2, options);
    std::vector<uint8_t> data = Pattern(kMiB, 2);
    const uint64_t offset = 3 * kBlock;
    // Three iovecs of sizes that are not multiples of the block size.
    auto write = Submit(IoOp::kWrite, offset,
                        {iovec{data.data(), 1000}, iovec{data.data() + 1000, 300001},
                         iovec{data.data() + 301001, kMiB - 301001}});
    for (const auto& p : paths_) {
        std::vector<uint32_t> blocks;
        for (const auto& c : p->PendingCommands()) blocks.push_back(c.blocks);
        // Each path's 512 KiB share: five extents of 195 blocks and the 49 left.
        EXPECT_EQ(blocks, (std::vector<uint32_t>{195, 195, 195, 195, 195, 49})) << p->name();
    }
    uint64_t next_lba = offset / kBlock;
    for (const FakePath::Command& c : AllSubmitted(paths_)) {
        EXPECT_EQ(c.kind, CommandKind::kWrite);
        EXPECT_EQ(c.lba, next_lba);
        EXPECT_LE(uint64_t{c.blocks} * kBlock, 100000u);
        ASSERT_EQ(IovBytes(c.iov), uint64_t{c.blocks} * kBlock);
        const uint64_t at = c.lba * kBlock - offset;
        EXPECT_EQ(c.iov.front().iov_base, data.data() + at) << "lba " << c.lba;
        EXPECT_EQ(Gather(c.iov),
                  std::vector<uint8_t>(data.begin() + at, data.begin() + at + IovBytes(c.iov)));
        next_lba = c.lba + c.blocks;
    }
    EXPECT_EQ(next_lba, (offset + kMiB) / kBlock);
    for (const auto& p : paths_) p->CompleteAll();
    EXPECT_EQ(write->calls, 1);
    EXPECT_TRUE(write->status.ok());
    EXPECT_EQ(store_->Read(offset, kMiB), data);
}

TEST_F(MultipathDeviceTest, CutsWritesAtTheWriteExtentSizeAndReadsAtTheExtentSize) {
    EngineOptions options = Options();
    options.max_extent_bytes = 1 << 20;
    options.max_write_extent_bytes = 256 * kKiB;
    Start(1, options);
    std::vector<uint8_t> data = Pattern(kMiB, 4);
    auto write = Write(0, data);
    std::vector<uint32_t> blocks;
    for (const auto& c : paths_[0]->PendingCommands()) blocks.push_back(c.blocks);
    const uint32_t quarter = 256 * kKiB / kBlock;
    EXPECT_EQ(blocks, (std::vector<uint32_t>{quarter, quarter, quarter, quarter}));
    paths_[0]->CompleteAll();
    EXPECT_TRUE(write->status.ok());
    auto read = Read(0, data);
    ASSERT_EQ(paths_[0]->Pending(), 1u);
    EXPECT_EQ(paths_[0]->At(0).blocks, kMiB / kBlock);
    paths_[0]->CompleteAll();
    EXPECT_TRUE(read->status.ok());
}

TEST_F(MultipathDeviceTest, CapsExtentsAtTheLunsMaximumTransferLength) {
    max_transfer_blocks_ = 48;
    Start(1);
    std::vector<uint8_t> data = Pattern(256 * kKiB, 3);
    auto write = Write(0, data);
    std::vector<uint64_t> lbas;
    std::vector<uint32_t> blocks;
    for (const auto& c : paths_[0]->PendingCommands()) {
        lbas.push_back(c.lba);
        blocks.push_back(c.blocks);
    }
    EXPECT_EQ(lbas, (std::vector<uint64_t>{0, 48, 96, 144, 192, 240, 288, 336, 384, 432, 480}));
    EXPECT_EQ(blocks, (std::vector<uint32_t>{48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 32}));
    paths_[0]->CompleteAll();
    EXPECT_TRUE(write->status.ok());
    EXPECT_EQ(store_->Read(0, data.size()), data);
}

TEST_F(MultipathDeviceTest, PointsEachCommandAtItsPartOfScatteredCallerBuffers) {
    Start(4);
    store_->Write(0, Pattern(kMiB, 4));
    // The request's memory is three separate buffers.
    std::vector<uint8_t> a(100 * kKiB + 7), b(600 * kKiB), c(kMiB - a.size() - b.size());
    auto read =
        Submit(IoOp::kRead, 0,
               {iovec{a.data(), a.size()}, iovec{b.data(), b.size()}, iovec{c.data(), c.size()}});
    for (const auto& p : paths_) p->CompleteAll();
    ASSERT_EQ(read->calls, 1);
    EXPECT_TRUE(read->status.ok());
    std::vector<uint8_t> joined = a;
    joined.insert(joined.end(), b.begin(), b.end());
    joined.insert(joined.end(), c.begin(), c.end());
    EXPECT_EQ(joined, Pattern(kMiB, 4));
    // Extents of 256 KiB: the first runs from `a` into `b`, the second lies inside `b`, the third
    // runs from `b` into `c` (which starts at 700 KiB + 7 bytes into the request).
    const std::vector<FakePath::Command> all = AllSubmitted(paths_);
    ASSERT_EQ(all.size(), 4u);
    ASSERT_EQ(all[0].iov.size(), 2u);
    EXPECT_EQ(all[0].iov[0].iov_base, a.data());
    EXPECT_EQ(all[0].iov[0].iov_len, a.size());
    EXPECT_EQ(all[0].iov[1].iov_base, b.data());
    ASSERT_EQ(all[1].iov.size(), 1u);
    EXPECT_EQ(all[1].iov[0].iov_base, b.data() + (256 * kKiB - a.size()));
    const FakePath::Command third = all[2];
    ASSERT_EQ(third.lba * kBlock, 512 * kKiB);
    ASSERT_EQ(third.iov.size(), 2u);
    EXPECT_EQ(third.iov[0].iov_base, b.data() + (512 * kKiB - a.size()));
    EXPECT_EQ(third.iov[0].iov_len, a.size() + b.size() - 512 * kKiB);
    EXPECT_EQ(third.iov[1].iov_base, c.data());
}

// Two paths, and the second one's part of every request ends a little after the first one's.
// The requests take too little time for a throughput window to close, so the paths' measured
// throughput stays equal and what moves the shares is Balance alone: bytes move off the path
// that keeps holding requests up, as far as its weight's lower bound.
TEST_F(MultipathDeviceTest, APathThatKeepsFinishingSplitRequestsLastGetsLessOfTheNextOnes) {
    Start(2);
    std::vector<uint8_t> data = Pattern(kMiB, 4);
    for (int round = 0; round < 60; ++round) {
        auto write = Write(0, data);
        ASSERT_EQ(paths_[0]->Pending(), 1u);
        ASSERT_EQ(paths_[1]->Pending(), 1u);
        clock_->Advance(microseconds(100));
        paths_[0]->CompleteAll();
        clock_->Advance(microseconds(10));
        paths_[1]->CompleteAll();
        ASSERT_EQ(write->calls, 1);
    }
    EXPECT_EQ(StatsOf(0).bytes_per_second, 0.0);  // no window closed: equal default estimates
    auto write = Write(0, data);
    ASSERT_EQ(paths_[1]->Pending(), 1u);
    const double lowest = PathSlot::kBalanceMin / (PathSlot::kBalanceMin + PathSlot::kBalanceMax);
    EXPECT_NEAR(static_cast<double>(IovBytes(paths_[1]->At(0).iov)), lowest * kMiB, 16.0 * kKiB);
    for (const auto& p : paths_) p->CompleteAll();
    EXPECT_TRUE(write->status.ok());
    EXPECT_EQ(store_->Read(0, kMiB), data);

    // Left alone for a while, the learnt weights fade and the shares come back to even.
    clock_->Advance(PathSlot::kBalanceMemory * 20);
    auto later = Write(0, data);
    ASSERT_EQ(paths_[1]->Pending(), 1u);
    EXPECT_NEAR(static_cast<double>(IovBytes(paths_[1]->At(0).iov)), 512.0 * kKiB, 8.0 * kKiB);
    for (const auto& p : paths_) p->CompleteAll();
    EXPECT_TRUE(later->status.ok());
}

// With other requests in flight, backlogs set the shares and the finish times: the same late
// path teaches nothing then.
TEST_F(MultipathDeviceTest, SplitRequestsThatOverlapOthersLeaveTheBalanceAlone) {
    Start(2);
    std::vector<uint8_t> a = Pattern(kMiB, 6), b = Pattern(kMiB, 7);
    for (int round = 0; round < 60; ++round) {
        auto first = Write(0, a);
        auto second = Write(kMiB, b);
        clock_->Advance(microseconds(100));
        paths_[0]->CompleteAll();
        clock_->Advance(microseconds(10));
        paths_[1]->CompleteAll();
        ASSERT_EQ(first->calls + second->calls, 2);
    }
    auto write = Write(0, a);
    ASSERT_EQ(paths_[1]->Pending(), 1u);
    EXPECT_EQ(IovBytes(paths_[1]->At(0).iov), 512 * kKiB);
    for (const auto& p : paths_) p->CompleteAll();
    EXPECT_TRUE(write->status.ok());
}

TEST_F(MultipathDeviceTest, RejectsMisalignedAndOutOfRangeRequestsWithEinvalBeforeSending) {
    Start(2);
    std::vector<uint8_t> odd(100), two_blocks(2 * kBlock);
    auto misaligned = Read(0, odd);
    auto past_end = Read(kLunBlocks * kBlock - kBlock, two_blocks);
    EXPECT_EQ(misaligned->calls, 1);
    EXPECT_EQ(misaligned->status.code(), EINVAL);
    EXPECT_EQ(past_end->calls, 1);
    EXPECT_EQ(past_end->status.code(), EINVAL);
    EXPECT_EQ(PendingEverywhere(), 0u);
}

TEST_F(MultipathDeviceTest, CompletesAZeroLengthReadAndWrite) {
    Start(2);
    auto read = Submit(IoOp::kRead, 4096, {});
    auto write = Submit(IoOp::kWrite, 4096, {});
    dev_->Tick();
    EXPECT_EQ(read->calls, 1);
    EXPECT_EQ(write->calls, 1);
    EXPECT_EQ(PendingEverywhere(), 0u);
}

TEST_F(MultipathDeviceTest, AZeroLengthWriteDoesNotHoldBackALaterWriteAroundIt) {
    Start(1);
    auto empty = Submit(IoOp::kWrite, 4096, {});
    std::vector<uint8_t> data = Pattern(8 * kKiB, 5);
    auto write = Write(0, data);
    EXPECT_EQ(paths_[0]->Pending(), 1u);
    paths_[0]->CompleteAll();
    EXPECT_EQ(write->calls, 1);
}

TEST_F(MultipathDeviceTest, RetriesExtentOnAnotherPathWhenPathDrops) {
    Start(2);
    const std::vector<uint8_t> stored = Pattern(kMiB, 6);
    store_->Write(kMiB, stored);
    std::vector<uint8_t> buffer(kMiB);
    auto read = Read(kMiB, buffer);
    ASSERT_EQ(paths_[0]->Pending(), 1u);
    ASSERT_EQ(paths_[0]->At(0).lba, 2048u);
    ASSERT_TRUE(paths_[0]->Complete(0, PathDropped()));
    EXPECT_EQ(read->calls, 0);
    EXPECT_EQ(paths_[0]->Submitted().size(), 1u);
    ASSERT_EQ(paths_[1]->Pending(), 2u);
    EXPECT_EQ(paths_[1]->At(1).lba, 2048u);
    EXPECT_EQ(paths_[1]->At(1).blocks, 1024u);
    paths_[1]->CompleteAll();
    ASSERT_EQ(read->calls, 1);
    EXPECT_TRUE(read->status.ok()) << read->status.ToString();
    EXPECT_EQ(buffer, stored);
    const LunStats stats = dev_->Stats();
    EXPECT_EQ(stats.paths[0].counters.failures, 1u);
    EXPECT_EQ(stats.paths[0].counters.retries, 1u);
    EXPECT_EQ(stats.paths[0].counters.reads, 0u);
    EXPECT_EQ(stats.paths[0].slot_state, "down");
    EXPECT_EQ(stats.paths[1].counters.reads, 2u);
    EXPECT_EQ(stats.paths[1].counters.bytes_read, kMiB);
    EXPECT_EQ(stats.paths[1].counters.retries, 0u);
    EXPECT_EQ(stats.failed_requests, 0u);
}

TEST_F(MultipathDeviceTest, FailsTheRequestWithANonRetryableErrnoOnlyAfterAllItsExtentsFinished) {
    Start(2);
    std::vector<uint8_t> data = Pattern(kMiB, 7);
    auto write = Write(0, data);
    ASSERT_TRUE(paths_[0]->Complete(0, Status::Fail(EROFS, "write protected")));
    EXPECT_EQ(write->calls, 0);
    EXPECT_EQ(PendingEverywhere(), 1u);  // nothing re-sent
    ASSERT_TRUE(paths_[1]->Complete(0));
    ASSERT_EQ(write->calls, 1);
    EXPECT_EQ(write->status.code(), EROFS);
    EXPECT_EQ(paths_[0]->Submitted().size(), 1u);
    EXPECT_EQ(paths_[1]->Submitted().size(), 1u);
    const LunStats stats = dev_->Stats();
    EXPECT_EQ(stats.failed_requests, 1u);
    EXPECT_EQ(stats.paths[0].slot_state, "active");  // the LUN refused, not the path
    EXPECT_EQ(stats.paths[0].counters.retries, 0u);
}

TEST_F(MultipathDeviceTest, RetriesABusyExtentAfterTheBusyDelay) {
    EngineOptions options = Options();
    options.busy_retry_delay = milliseconds(20);
    Start(2, options);
    std::vector<uint8_t> buffer(kMiB);
    auto read = Read(0, buffer);
    ASSERT_TRUE(paths_[0]->Complete(0, Status::Retryable(EBUSY, "busy", Scope::kExtent)));
    EXPECT_EQ(PendingEverywhere(), 1u);
    EXPECT_EQ(dev_->Stats().queued_extents, 1u);
    EXPECT_EQ(dev_->Stats().paths[0].slot_state, "active");
    clock_->Advance(milliseconds(19));
    dev_->Tick();
    EXPECT_EQ(PendingEverywhere(), 1u);
    clock_->Advance(milliseconds(1));
    dev_->Tick();
    ASSERT_EQ(paths_[0]->Pending(), 1u);  // the least loaded path
    EXPECT_EQ(paths_[0]->At(0).lba, 0u);
    EXPECT_EQ(dev_->Stats().queued_extents, 0u);
    for (const auto& p : paths_) p->CompleteAll();
    EXPECT_EQ(read->calls, 1);
    EXPECT_TRUE(read->status.ok());
}

TEST_F(MultipathDeviceTest, GivesUpOnAnExtentAfterMaxAttempts) {
    EngineOptions options = Options();
    options.max_attempts = 3;
    Start(1, options);
    std::vector<uint8_t> buffer(64 * kKiB);
    auto read = Read(0, buffer);
    for (int attempt = 1; attempt <= 3; ++attempt) {
        ASSERT_EQ(paths_[0]->Pending(), 1u) << "attempt " << attempt;
        ASSERT_TRUE(
            paths_[0]->Complete(0, Status::Retryable(EAGAIN, "unit attention", Scope::kLun)));
    }
    EXPECT_EQ(paths_[0]->Submitted().size(), 3u);
    EXPECT_EQ(PendingEverywhere(), 0u);
    ASSERT_EQ(read->calls, 1);
    EXPECT_EQ(read->status.code(), EAGAIN);
}

TEST_F(MultipathDeviceTest, ResetsAPathWhoseExtentOverranItsDeadlineAndReissuesItElsewhere) {
    Start(2);
    const std::vector<uint8_t> stored = Pattern(kMiB, 8);
    store_->Write(0, stored);
    std::vector<uint8_t> buffer(kMiB);
    auto read = Read(0, buffer);
    ASSERT_TRUE(paths_[1]->Complete(0));
    // An unmeasured path gets the deadline floor, 1 s: not overdue at exactly 1 s.
    clock_->Advance(seconds(1));
    dev_->Tick();
    EXPECT_EQ(paths_[0]->resets(), 0);
    EXPECT_EQ(paths_[0]->Pending(), 1u);
    clock_->Advance(nanoseconds(1));
    dev_->Tick();
    EXPECT_EQ(paths_[0]->resets(), 1);
    EXPECT_EQ(paths_[0]->Pending(), 0u);
    EXPECT_EQ(paths_[0]->state(), PathState::kDown);
    ASSERT_EQ(paths_[1]->Pending(), 1u);
    EXPECT_EQ(paths_[1]->At(0).lba, 0u);
    EXPECT_EQ(paths_[1]->At(0).blocks, 1024u);
    EXPECT_EQ(read->calls, 0);
    paths_[1]->CompleteAll();
    ASSERT_EQ(read->calls, 1);
    EXPECT_TRUE(read->status.ok()) << read->status.ToString();
    EXPECT_EQ(buffer, stored);
    const LunStats stats = dev_->Stats();
    EXPECT_EQ(stats.paths[0].counters.resets, 1u);
    EXPECT_EQ(stats.paths[0].counters.retries, 1u);
    EXPECT_EQ(stats.paths[0].slot_state, "down");
    // Further ticks do not reset it again.
    clock_->Advance(seconds(5));
    dev_->Tick();
    EXPECT_EQ(paths_[0]->resets(), 1);
}

TEST_F(MultipathDeviceTest, StartsAnOverlappingWriteOnlyAfterTheEarlierOneCompletedWithItsRetry) {
    Start(2);
    std::vector<uint8_t> first = Pattern(128 * kKiB, 10);
    std::vector<uint8_t> second = Pattern(128 * kKiB, 20);
    auto w1 = Write(0, first);  // 64 KiB to each path
    ASSERT_EQ(paths_[1]->Pending(), 1u);
    ASSERT_EQ(paths_[1]->At(0).lba, 128u);
    auto w2 = Write(64 * kKiB, second);  // overlaps w1's second half
    EXPECT_EQ(PendingEverywhere(), 2u);
    // w1's second half fails with its path; it is re-sent on path 0.
    ASSERT_TRUE(paths_[1]->Complete(0, PathDropped()));
    ASSERT_EQ(paths_[0]->Pending(), 2u);
    EXPECT_EQ(paths_[0]->At(1).lba, 128u);
    ASSERT_TRUE(paths_[0]->Complete(0));
    EXPECT_EQ(PendingEverywhere(), 1u) << "w2 went out before w1's retry completed";
    EXPECT_EQ(w1->calls, 0);
    ASSERT_TRUE(paths_[0]->Complete(0));
    EXPECT_EQ(w1->calls, 1);
    EXPECT_TRUE(w1->status.ok());
    // w1's first copy may still reach the LUN through path 1 until that path logs in again.
    EXPECT_EQ(PendingEverywhere(), 0u) << "w2 went out while w1's first copy could still land";
    paths_[1]->SetState(PathState::kUp);
    // Only now w2 goes out, all of it on the path left (path 1 is on probation).
    EXPECT_EQ(paths_[1]->Submitted().size(), 1u);
    ASSERT_EQ(paths_[0]->Pending(), 1u);
    EXPECT_EQ(paths_[0]->At(0).lba, 128u);
    EXPECT_EQ(paths_[0]->At(0).blocks, 256u);
    paths_[0]->CompleteAll();
    EXPECT_EQ(w2->calls, 1);
    EXPECT_TRUE(w2->status.ok());
    std::vector<uint8_t> expected(first.begin(), first.begin() + 64 * kKiB);
    expected.insert(expected.end(), second.begin(), second.end());
    EXPECT_EQ(store_->Read(0, 192 * kKiB), expected);
}

TEST_F(MultipathDeviceTest, ReleasesAFencedRangeAfterFenceTimeoutWhenThePathNeverReturns) {
    EngineOptions o = Options();
    o.picker.policy = Policy::kFailover;
    Start(2, o);
    std::vector<uint8_t> first = Pattern(64 * kKiB, 11);
    std::vector<uint8_t> second = Pattern(64 * kKiB, 21);
    std::vector<uint8_t> elsewhere = Pattern(64 * kKiB, 31);
    auto w1 = Write(0, first);
    ASSERT_TRUE(paths_[0]->Complete(0, PathDropped()));  // re-sent on path 1
    ASSERT_TRUE(paths_[1]->Complete(0));
    ASSERT_EQ(w1->calls, 1);
    auto w2 = Write(4096, second);        // overlaps: fenced
    auto w3 = Write(1 << 20, elsewhere);  // does not: goes out
    ASSERT_EQ(PendingEverywhere(), 1u);
    paths_[1]->CompleteAll();
    EXPECT_TRUE(w3->status.ok());
    clock_->Advance(o.fence_timeout - std::chrono::milliseconds(1));
    dev_->Tick();
    EXPECT_EQ(PendingEverywhere(), 0u);
    clock_->Advance(std::chrono::milliseconds(1));
    dev_->Tick();
    EXPECT_EQ(PendingEverywhere(), 1u) << "the fence outlived fence_timeout";
    paths_[1]->CompleteAll();
    EXPECT_TRUE(w2->status.ok());
    std::vector<uint8_t> expected(first.begin(), first.begin() + 4096);
    expected.insert(expected.end(), second.begin(), second.end());
    EXPECT_EQ(store_->Read(0, expected.size()), expected);
}

TEST_F(MultipathDeviceTest, SendsWritesThatDoNotOverlapSideBySide) {
    Start(2);
    std::vector<uint8_t> first = Pattern(64 * kKiB, 30), second = Pattern(64 * kKiB, 40);
    auto w1 = Write(0, first);
    auto w2 = Write(64 * kKiB, second);
    EXPECT_EQ(paths_[0]->Pending(), 1u);
    EXPECT_EQ(paths_[1]->Pending(), 1u);
    paths_[1]->CompleteAll();
    EXPECT_EQ(w2->calls, 1);
    EXPECT_EQ(w1->calls, 0);
    paths_[0]->CompleteAll();
    EXPECT_EQ(w1->calls, 1);
}

TEST_F(MultipathDeviceTest, FlushSendsOneSynchronizeCache) {
    Start(3);
    auto flush = Flush();
    ASSERT_EQ(PendingEverywhere(), 1u);
    ASSERT_EQ(paths_[0]->Pending(), 1u);
    const FakePath::Command c = paths_[0]->At(0);
    EXPECT_EQ(c.kind, CommandKind::kSyncCache);
    EXPECT_EQ(c.lba, 0u);
    EXPECT_EQ(c.blocks, 0u);
    EXPECT_TRUE(c.iov.empty());
    paths_[0]->CompleteAll();
    ASSERT_EQ(flush->calls, 1);
    EXPECT_TRUE(flush->status.ok());
    EXPECT_EQ(paths_[0]->counters().syncs, 1u);
    EXPECT_EQ(dev_->Stats().paths[0].counters.writes, 0u);
}

TEST_F(MultipathDeviceTest, RetriesAFlushOnAnotherPathWhenItsPathDrops) {
    Start(2);
    auto flush = Flush();
    ASSERT_TRUE(paths_[0]->Complete(0, PathDropped()));
    ASSERT_EQ(paths_[1]->Pending(), 1u);
    EXPECT_EQ(paths_[1]->At(0).kind, CommandKind::kSyncCache);
    paths_[1]->CompleteAll();
    EXPECT_EQ(flush->calls, 1);
    EXPECT_TRUE(flush->status.ok());
}

TEST_F(MultipathDeviceTest, RunsSplitAndRetryThroughTheExecutor) {
    auto manual = std::make_shared<fakes::ManualExecutor>();
    executor_ = manual;
    Start(2);
    std::vector<uint8_t> buffer(kMiB);
    auto read = Read(0, buffer);
    EXPECT_EQ(PendingEverywhere(), 0u);
    EXPECT_EQ(manual->RunAll(), 1u);
    ASSERT_EQ(PendingEverywhere(), 2u);
    ASSERT_TRUE(paths_[0]->Complete(0, PathDropped()));
    EXPECT_EQ(paths_[1]->Pending(), 1u);  // the retry waits for the executor
    EXPECT_EQ(manual->RunAll(), 1u);
    EXPECT_EQ(paths_[1]->Pending(), 2u);
    paths_[1]->CompleteAll();
    EXPECT_EQ(read->calls, 1);
    EXPECT_TRUE(read->status.ok());
}

TEST_F(MultipathDeviceTest, RetryPrefersAPathItHasNotFailedOnEvenWhenThatPathIsBack) {
    auto manual = std::make_shared<fakes::ManualExecutor>();
    executor_ = manual;
    EngineOptions options = Options();
    options.stable_window = Duration::zero();  // a returning path rejoins at the next tick
    options.stable_window_max = Duration::zero();
    Start(2, options);
    std::vector<uint8_t> buffer(kMiB);
    auto read = Read(0, buffer);
    manual->RunAll();
    ASSERT_TRUE(paths_[0]->Complete(0, PathDropped()));
    paths_[0]->SetState(PathState::kDown);
    paths_[0]->SetState(PathState::kUp);
    dev_->Tick();
    ASSERT_EQ(StatsOf(0).slot_state, "active");
    // Path 0 is idle and path 1 busy, yet the retry goes to path 1.
    manual->RunAll();
    EXPECT_EQ(paths_[0]->Pending(), 0u);
    ASSERT_EQ(paths_[1]->Pending(), 2u);
    EXPECT_EQ(paths_[1]->At(1).lba, 0u);
    paths_[1]->CompleteAll();
    EXPECT_TRUE(read->status.ok());
}

}  // namespace
}  // namespace lunfs
