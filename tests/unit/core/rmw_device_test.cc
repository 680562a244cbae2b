#include "core/rmw_device.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tests/unit/fakes/memory_device.h"

namespace lunfs {
namespace {

using fakes::MemoryDevice;
using Record = MemoryDevice::Record;

// What a request's callback saw.
struct Outcome {
    int calls = 0;
    Status status;
};

IoCallback Capture(const std::shared_ptr<Outcome>& outcome) {
    return [outcome](Status s) {
        ++outcome->calls;
        outcome->status = std::move(s);
    };
}

// `length` bytes that differ from the device's initial pattern and from other tags' payloads.
std::vector<uint8_t> Payload(uint64_t length, uint8_t tag) {
    std::vector<uint8_t> out(length);
    for (uint64_t i = 0; i < length; ++i) out[i] = static_cast<uint8_t>(tag ^ (i % 7));
    return out;
}

// Splits `buffer` into `pieces` iovecs of nearly equal size.
std::vector<iovec> Split(std::vector<uint8_t>& buffer, size_t pieces) {
    std::vector<iovec> iov;
    const size_t step = (buffer.size() + pieces - 1) / pieces;
    for (size_t at = 0; at < buffer.size(); at += step) {
        iov.push_back(iovec{buffer.data() + at, std::min(step, buffer.size() - at)});
    }
    return iov;
}

// ---- The fake itself: the RMW tests below are only as good as it is. ----

TEST(MemoryDeviceTest, RecordsEveryRequestAndCompletesInline) {
    MemoryDevice dev(4096, 512);
    std::vector<uint8_t> buf(512, 7);
    auto w = std::make_shared<Outcome>();
    dev.Submit(IoRequest{IoOp::kWrite, 1024, {iovec{buf.data(), 512}}, Capture(w)});
    auto f = std::make_shared<Outcome>();
    dev.Submit(IoRequest{IoOp::kFlush, 0, {}, Capture(f)});
    EXPECT_EQ(w->calls, 1);
    EXPECT_TRUE(w->status.ok());
    EXPECT_EQ(f->calls, 1);
    EXPECT_EQ(dev.Requests(),
              (std::vector<Record>{{IoOp::kWrite, 1024, 512}, {IoOp::kFlush, 0, 0}}));
    EXPECT_EQ(dev.Contents(1023, 3), (std::vector<uint8_t>{0, 7, 7}));
}

TEST(MemoryDeviceTest, RejectsMisalignedAndOutOfRangeRequestsWithEinval) {
    MemoryDevice dev(4096, 512);
    EXPECT_EQ(dev.Alignment(), 512u);
    std::vector<uint8_t> buf(1024, 1);
    auto misaligned = std::make_shared<Outcome>();
    dev.Submit(IoRequest{IoOp::kWrite, 100, {iovec{buf.data(), 512}}, Capture(misaligned)});
    auto past_end = std::make_shared<Outcome>();
    dev.Submit(IoRequest{IoOp::kWrite, 3584, {iovec{buf.data(), 1024}}, Capture(past_end)});
    EXPECT_EQ(misaligned->status.code(), EINVAL);
    EXPECT_EQ(past_end->status.code(), EINVAL);
    EXPECT_EQ(dev.Contents(0, 4096), std::vector<uint8_t>(4096, 0));
}

TEST(MemoryDeviceTest, HeldWriteChangesBytesOnlyWhenCompleted) {
    MemoryDevice dev(4096, 512);
    dev.HoldCompletions(true);
    std::vector<uint8_t> first(512, 1);
    std::vector<uint8_t> second(512, 2);
    auto a = std::make_shared<Outcome>();
    auto b = std::make_shared<Outcome>();
    dev.Submit(IoRequest{IoOp::kWrite, 0, {iovec{first.data(), 512}}, Capture(a)});
    dev.Submit(IoRequest{IoOp::kWrite, 0, {iovec{second.data(), 512}}, Capture(b)});
    EXPECT_EQ(dev.Pending(), 2u);
    EXPECT_EQ(a->calls, 0);
    EXPECT_EQ(dev.Contents(0, 1), (std::vector<uint8_t>{0}));

    ASSERT_TRUE(dev.Complete(1));  // the second first
    EXPECT_EQ(b->calls, 1);
    EXPECT_EQ(dev.Contents(0, 1), (std::vector<uint8_t>{2}));
    EXPECT_EQ(dev.PendingAt(0), (Record{IoOp::kWrite, 0, 512}));
    ASSERT_TRUE(dev.CompleteNext());
    EXPECT_EQ(dev.Contents(0, 1), (std::vector<uint8_t>{1}));
    EXPECT_FALSE(dev.CompleteNext());
}

TEST(MemoryDeviceTest, FailNextFailsOneRequestAndLeavesTheBytes) {
    MemoryDevice dev(4096, 512);
    dev.FailNext(Status::Fail(EIO, "injected"));
    std::vector<uint8_t> buf(512, 9);
    auto a = std::make_shared<Outcome>();
    auto b = std::make_shared<Outcome>();
    dev.Submit(IoRequest{IoOp::kWrite, 0, {iovec{buf.data(), 512}}, Capture(a)});
    EXPECT_EQ(a->status.code(), EIO);
    EXPECT_EQ(a->status.message(), "injected");
    EXPECT_EQ(dev.Contents(0, 1), (std::vector<uint8_t>{0}));
    dev.Submit(IoRequest{IoOp::kWrite, 0, {iovec{buf.data(), 512}}, Capture(b)});
    EXPECT_TRUE(b->status.ok());
    EXPECT_EQ(dev.Contents(0, 1), (std::vector<uint8_t>{9}));
}

// ---- RmwDevice, for each block size. ----

constexpr uint64_t kBlocks = 16;

class RmwDeviceTest : public ::testing::TestWithParam<uint32_t> {
  protected:
    RmwDeviceTest()
        : bs_(GetParam()),
          inner_(std::make_shared<MemoryDevice>(kBlocks * bs_, bs_)),
          rmw_(inner_),
          model_(kBlocks * bs_) {
        for (uint64_t i = 0; i < model_.size(); ++i) model_[i] = static_cast<uint8_t>(i % 251);
        inner_->Fill(0, model_);
    }

    // Submits a write of `data` at `offset` in `pieces` iovecs; the payload stays alive for the
    // whole test.
    std::shared_ptr<Outcome> Write(uint64_t offset, std::vector<uint8_t> data, size_t pieces = 1) {
        payloads_.push_back(std::move(data));
        auto outcome = std::make_shared<Outcome>();
        rmw_.Submit(
            IoRequest{IoOp::kWrite, offset, Split(payloads_.back(), pieces), Capture(outcome)});
        return outcome;
    }

    // Reads synchronously (completions must not be held).
    std::vector<uint8_t> Read(uint64_t offset, uint64_t length, size_t pieces = 1) {
        std::vector<uint8_t> out(length);
        auto outcome = std::make_shared<Outcome>();
        rmw_.Submit(IoRequest{IoOp::kRead, offset, Split(out, pieces), Capture(outcome)});
        EXPECT_EQ(outcome->calls, 1);
        EXPECT_TRUE(outcome->status.ok()) << outcome->status.ToString();
        return out;
    }

    // Applies a write to the expected contents.
    void Expect(uint64_t offset, const std::vector<uint8_t>& data) {
        std::copy(data.begin(), data.end(), model_.begin() + static_cast<ptrdiff_t>(offset));
    }

    std::vector<uint8_t> Stored() const { return inner_->Contents(0, kBlocks * bs_); }

    const uint64_t bs_;
    std::shared_ptr<MemoryDevice> inner_;
    RmwDevice rmw_;
    std::vector<uint8_t> model_;  // what the device should hold
    std::deque<std::vector<uint8_t>> payloads_;
};

INSTANTIATE_TEST_SUITE_P(BlockSizes, RmwDeviceTest, ::testing::Values(512u, 4096u),
                         [](const ::testing::TestParamInfo<uint32_t>& param_info) {
                             return "Bs" + std::to_string(param_info.param);
                         });

TEST_P(RmwDeviceTest, ReportsTheInnerGeometryAndAcceptsAnyByteRange) {
    EXPECT_EQ(rmw_.Capacity(), kBlocks * bs_);
    EXPECT_EQ(rmw_.BlockSize(), bs_);
    EXPECT_EQ(rmw_.Alignment(), 1u);
}

TEST_P(RmwDeviceTest, AlignedReadPassesThroughAsOneRequest) {
    EXPECT_EQ(Read(bs_, 3 * bs_, 3),
              std::vector<uint8_t>(model_.begin() + bs_, model_.begin() + 4 * bs_));
    EXPECT_EQ(inner_->Requests(), (std::vector<Record>{{IoOp::kRead, bs_, 3 * bs_}}));
}

TEST_P(RmwDeviceTest, AlignedWritePassesThroughAsOneRequest) {
    auto w = Write(2 * bs_, Payload(2 * bs_, 0xa0), 2);
    EXPECT_EQ(w->calls, 1);
    EXPECT_TRUE(w->status.ok());
    EXPECT_EQ(inner_->Requests(), (std::vector<Record>{{IoOp::kWrite, 2 * bs_, 2 * bs_}}));
    Expect(2 * bs_, Payload(2 * bs_, 0xa0));
    EXPECT_EQ(Stored(), model_);
}

struct Range {
    uint64_t offset_blocks;  // offset = offset_blocks * bs + offset_bytes
    int64_t offset_bytes;
    uint64_t length_blocks;  // length = length_blocks * bs + length_bytes
    int64_t length_bytes;
};

std::vector<Range> UnalignedRanges() {
    return {
        {0, 1, 0, 1},             // one byte inside the first block
        {1, -1, 0, 2},            // two bytes straddling a block boundary
        {0, 100, 0, 50},          // inside one block
        {3, 0, 0, 10},            // aligned head, partial tail, one block
        {3, 0, 2, 10},            // aligned head, partial tail, several blocks
        {2, 200, 1, -200},        // partial head, aligned tail
        {2, 200, 3, -200},        // partial head, aligned tail, several blocks
        {0, 10, 3, 0},            // partial head and tail, block-sized multiple
        {1, -1, 5, 2},            // both partial, spanning many blocks
        {kBlocks, -1, 0, 1},      // the very last byte
        {kBlocks - 1, 1, 1, -1},  // the last block but its first byte
    };
}

TEST_P(RmwDeviceTest, UnalignedReadReturnsExactBytesAndNothingAround) {
    for (const Range& r : UnalignedRanges()) {
        const uint64_t offset = r.offset_blocks * bs_ + r.offset_bytes;
        const uint64_t length = r.length_blocks * bs_ + r.length_bytes;
        SCOPED_TRACE("offset " + std::to_string(offset) + " length " + std::to_string(length));
        inner_->ClearRequests();

        // Guard bytes around the caller's buffer catch scratch data spilling into it.
        std::vector<uint8_t> buffer(length + 64, 0xee);
        auto outcome = std::make_shared<Outcome>();
        rmw_.Submit(
            IoRequest{IoOp::kRead, offset, {iovec{buffer.data() + 32, length}}, Capture(outcome)});
        ASSERT_EQ(outcome->calls, 1);
        ASSERT_TRUE(outcome->status.ok()) << outcome->status.ToString();
        EXPECT_EQ(std::vector<uint8_t>(buffer.begin() + 32, buffer.begin() + 32 + length),
                  std::vector<uint8_t>(model_.begin() + offset, model_.begin() + offset + length));
        EXPECT_EQ(std::vector<uint8_t>(buffer.begin(), buffer.begin() + 32),
                  std::vector<uint8_t>(32, 0xee));
        EXPECT_EQ(std::vector<uint8_t>(buffer.end() - 32, buffer.end()),
                  std::vector<uint8_t>(32, 0xee));

        const uint64_t first = offset / bs_ * bs_;
        const uint64_t last = (offset + length + bs_ - 1) / bs_ * bs_;
        EXPECT_EQ(inner_->Requests(), (std::vector<Record>{{IoOp::kRead, first, last - first}}));
    }
}

TEST_P(RmwDeviceTest, UnalignedReadScattersIntoSeveralIovecs) {
    const uint64_t offset = bs_ + 7;
    const uint64_t length = 2 * bs_ + 11;
    EXPECT_EQ(Read(offset, length, 5),
              std::vector<uint8_t>(model_.begin() + offset, model_.begin() + offset + length));
}

TEST_P(RmwDeviceTest, UnalignedWriteKeepsNeighbouringBytes) {
    uint8_t tag = 0x80;
    for (const Range& r : UnalignedRanges()) {
        const uint64_t offset = r.offset_blocks * bs_ + r.offset_bytes;
        const uint64_t length = r.length_blocks * bs_ + r.length_bytes;
        SCOPED_TRACE("offset " + std::to_string(offset) + " length " + std::to_string(length));
        tag = static_cast<uint8_t>(tag + 0x11);
        auto w = Write(offset, Payload(length, tag));
        ASSERT_EQ(w->calls, 1);
        ASSERT_TRUE(w->status.ok()) << w->status.ToString();
        Expect(offset, Payload(length, tag));
        ASSERT_EQ(Stored(), model_);
    }
}

TEST_P(RmwDeviceTest, UnalignedWriteReadsOnlyThePartialEdgeBlocks) {
    struct Case {
        uint64_t offset;
        uint64_t length;
        std::vector<Record> expected;
    };
    const uint64_t b = bs_;
    const std::vector<Case> cases = {
        // Inside one block: one edge read of that block.
        {b + 10, 20, {{IoOp::kRead, b, b}, {IoOp::kWrite, b, b}}},
        // Partial head only.
        {b + 10, 2 * b - 10, {{IoOp::kRead, b, b}, {IoOp::kWrite, b, 2 * b}}},
        // Partial tail only.
        {4 * b, b + 10, {{IoOp::kRead, 5 * b, b}, {IoOp::kWrite, 4 * b, 2 * b}}},
        // Both, in adjacent blocks.
        {8 * b - 1,
         2,
         {{IoOp::kRead, 7 * b, b}, {IoOp::kRead, 8 * b, b}, {IoOp::kWrite, 7 * b, 2 * b}}},
        // Both, far apart: the middle blocks are not read.
        {10 * b + 1,
         4 * b,
         {{IoOp::kRead, 10 * b, b}, {IoOp::kRead, 14 * b, b}, {IoOp::kWrite, 10 * b, 5 * b}}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE("offset " + std::to_string(c.offset) + " length " + std::to_string(c.length));
        inner_->ClearRequests();
        auto w = Write(c.offset, Payload(c.length, 0x5a), 3);
        ASSERT_TRUE(w->status.ok()) << w->status.ToString();
        EXPECT_EQ(inner_->Requests(), c.expected);
        Expect(c.offset, Payload(c.length, 0x5a));
        EXPECT_EQ(Stored(), model_);
    }
}

TEST_P(RmwDeviceTest, UnalignedWriteThenReadBackGivesTheSameBytes) {
    const uint64_t offset = 3 * bs_ - 5;
    auto w = Write(offset, Payload(bs_ + 9, 0x33), 4);
    ASSERT_TRUE(w->status.ok());
    EXPECT_EQ(Read(offset - 1, bs_ + 11), [&] {
        std::vector<uint8_t> v{model_[offset - 1]};
        std::vector<uint8_t> p = Payload(bs_ + 9, 0x33);
        v.insert(v.end(), p.begin(), p.end());
        v.push_back(model_[offset + bs_ + 9]);
        return v;
    }());
}

// Steps held completions in the order `pick` chooses (given how many are pending) until nothing
// is pending.
template <typename Pick>
void Drain(MemoryDevice& dev, Pick pick) {
    for (int guard = 0; dev.Pending() > 0 && guard < 1000; ++guard) {
        ASSERT_TRUE(dev.Complete(pick(dev.Pending())));
    }
    ASSERT_EQ(dev.Pending(), 0u);
}

struct Overlap {
    const char* name;
    uint64_t a_offset, a_length;  // in units of bs/8, to work for any block size
    uint64_t b_offset, b_length;
};

// Two unaligned writes that overlap: submitted together, stepped in many orders, the result must
// be A then B, since overlapping writes are granted in the order they were submitted.
TEST_P(RmwDeviceTest, ConcurrentOverlappingUnalignedWritesLoseNoByte) {
    const uint64_t u = bs_ / 8;
    const std::vector<Overlap> overlaps = {
        {"same block, B after A", 1, 2, 2, 3},
        {"same block, B inside A", 1, 6, 3, 1},
        {"same block, disjoint bytes", 1, 1, 5, 2},
        {"A spans blocks, B in its tail block", 5, 12, 18, 3},
        {"B spans blocks, A in its head block", 9, 2, 10, 20},
        {"both span, overlapping edges", 3, 17, 13, 25},
    };
    // Orders: oldest first, newest first, and pseudo-random ones.
    std::vector<std::function<size_t(size_t)>> picks = {
        [](size_t) { return size_t{0}; },
        [](size_t n) { return n - 1; },
    };
    for (unsigned seed = 1; seed <= 10; ++seed) {
        auto rng = std::make_shared<std::mt19937>(seed);
        picks.push_back([rng](size_t n) { return size_t{(*rng)() % n}; });
    }

    for (const Overlap& o : overlaps) {
        for (size_t p = 0; p < picks.size(); ++p) {
            SCOPED_TRACE(std::string(o.name) + ", order " + std::to_string(p));
            // Start from the same contents each time.
            std::vector<uint8_t> initial = model_;
            inner_->Fill(0, initial);
            inner_->HoldCompletions(true);
            auto a = Write(o.a_offset * u + 1, Payload(o.a_length * u, 0xa0), 2);
            auto b = Write(o.b_offset * u + 3, Payload(o.b_length * u, 0xb0), 3);
            Drain(*inner_, picks[p]);
            inner_->HoldCompletions(false);

            ASSERT_EQ(a->calls, 1);
            ASSERT_EQ(b->calls, 1);
            EXPECT_TRUE(a->status.ok()) << a->status.ToString();
            EXPECT_TRUE(b->status.ok()) << b->status.ToString();
            std::vector<uint8_t> serial = initial;
            std::vector<uint8_t> pa = Payload(o.a_length * u, 0xa0);
            std::vector<uint8_t> pb = Payload(o.b_length * u, 0xb0);
            std::copy(pa.begin(), pa.end(), serial.begin() + o.a_offset * u + 1);
            std::copy(pb.begin(), pb.end(), serial.begin() + o.b_offset * u + 3);
            EXPECT_EQ(Stored(), serial);
        }
    }
}

TEST_P(RmwDeviceTest, OverlappingWriteSendsNothingUntilTheEarlierOneCompletes) {
    inner_->HoldCompletions(true);
    auto a = Write(10, Payload(100, 0xa0));
    auto b = Write(50, Payload(100, 0xb0));
    // Only A's edge read is out; B waits for A's whole read-modify-write.
    ASSERT_EQ(inner_->Pending(), 1u);
    EXPECT_EQ(inner_->PendingAt(0), (Record{IoOp::kRead, 0, bs_}));
    ASSERT_TRUE(inner_->CompleteNext());
    ASSERT_EQ(inner_->Pending(), 1u);
    EXPECT_EQ(inner_->PendingAt(0), (Record{IoOp::kWrite, 0, bs_}));
    EXPECT_EQ(a->calls, 0);
    EXPECT_EQ(b->calls, 0);
    ASSERT_TRUE(inner_->CompleteNext());
    EXPECT_EQ(a->calls, 1);
    // Now B reads the block A wrote.
    ASSERT_EQ(inner_->Pending(), 1u);
    EXPECT_EQ(inner_->PendingAt(0), (Record{IoOp::kRead, 0, bs_}));
    EXPECT_EQ(inner_->CompleteAll(), 2u);
    EXPECT_EQ(b->calls, 1);
    Expect(10, Payload(100, 0xa0));
    Expect(50, Payload(100, 0xb0));
    EXPECT_EQ(Stored(), model_);
}

TEST_P(RmwDeviceTest, NonOverlappingWritesRunTogether) {
    inner_->HoldCompletions(true);
    auto a = Write(10, Payload(100, 0xa0));
    auto b = Write(5 * bs_ + 10, Payload(100, 0xb0));
    EXPECT_EQ(inner_->Pending(), 2u);
    // Complete B's read and write before A's.
    ASSERT_TRUE(inner_->Complete(1));
    ASSERT_TRUE(inner_->Complete(1));
    EXPECT_EQ(b->calls, 1);
    EXPECT_EQ(a->calls, 0);
    EXPECT_EQ(inner_->CompleteAll(), 2u);
    EXPECT_EQ(a->calls, 1);
    Expect(10, Payload(100, 0xa0));
    Expect(5 * bs_ + 10, Payload(100, 0xb0));
    EXPECT_EQ(Stored(), model_);
}

TEST_P(RmwDeviceTest, AlignedWriteWaitsForAnOverlappingUnalignedWriteInFlight) {
    inner_->HoldCompletions(true);
    auto a = Write(bs_ + 100, Payload(50, 0xa0));
    auto b = Write(0, Payload(2 * bs_, 0xb0));
    ASSERT_EQ(inner_->Pending(), 1u);  // A's edge read; B's write is not sent yet
    EXPECT_EQ(inner_->PendingAt(0), (Record{IoOp::kRead, bs_, bs_}));
    ASSERT_TRUE(inner_->CompleteNext());
    ASSERT_EQ(inner_->Pending(), 1u);
    EXPECT_EQ(inner_->PendingAt(0), (Record{IoOp::kWrite, bs_, bs_}));
    ASSERT_TRUE(inner_->CompleteNext());
    EXPECT_EQ(a->calls, 1);
    ASSERT_EQ(inner_->Pending(), 1u);
    EXPECT_EQ(inner_->PendingAt(0), (Record{IoOp::kWrite, 0, 2 * bs_}));
    ASSERT_TRUE(inner_->CompleteNext());
    EXPECT_EQ(b->calls, 1);
    Expect(0, Payload(2 * bs_, 0xb0));  // B covers A entirely
    EXPECT_EQ(Stored(), model_);
}

TEST_P(RmwDeviceTest, UnalignedWriteWaitsForAnOverlappingAlignedWriteInFlight) {
    inner_->HoldCompletions(true);
    auto a = Write(0, Payload(2 * bs_, 0xa0));
    auto b = Write(bs_ + 100, Payload(50, 0xb0));
    ASSERT_EQ(inner_->Pending(), 1u);
    EXPECT_EQ(inner_->PendingAt(0), (Record{IoOp::kWrite, 0, 2 * bs_}));
    EXPECT_EQ(inner_->CompleteAll(), 3u);  // A's write, then B's edge read and write
    EXPECT_EQ(a->calls, 1);
    EXPECT_EQ(b->calls, 1);
    Expect(0, Payload(2 * bs_, 0xa0));
    Expect(bs_ + 100, Payload(50, 0xb0));
    EXPECT_EQ(Stored(), model_);
}

TEST_P(RmwDeviceTest, FailingEdgeReadFailsTheWriteWithItsStatusAndReleasesTheLock) {
    inner_->FailNext(Status::Fail(EIO, "injected medium error"));
    auto a = Write(100, Payload(50, 0xa0));
    ASSERT_EQ(a->calls, 1);
    EXPECT_EQ(a->status.code(), EIO);
    EXPECT_EQ(a->status.message(), "injected medium error");
    EXPECT_EQ(inner_->Requests(), (std::vector<Record>{{IoOp::kRead, 0, bs_}}));
    EXPECT_EQ(Stored(), model_);

    auto b = Write(90, Payload(80, 0xb0));
    ASSERT_EQ(b->calls, 1);
    EXPECT_TRUE(b->status.ok()) << b->status.ToString();
    Expect(90, Payload(80, 0xb0));
    EXPECT_EQ(Stored(), model_);
}

TEST_P(RmwDeviceTest, OneFailingEdgeOfTwoFailsTheWriteAndLetsTheWaiterRun) {
    inner_->HoldCompletions(true);
    inner_->FailNext(Status::Retryable(ETIMEDOUT, "head timed out", Scope::kPath));
    auto a = Write(bs_ + 1, Payload(3 * bs_, 0xa0));  // partial head and tail: two edge reads
    auto b = Write(4 * bs_ - 1, Payload(2, 0xb0));    // overlaps A's tail block
    ASSERT_EQ(inner_->Pending(), 2u);
    EXPECT_EQ(inner_->PendingAt(0), (Record{IoOp::kRead, bs_, bs_}));
    EXPECT_EQ(inner_->PendingAt(1), (Record{IoOp::kRead, 4 * bs_, bs_}));

    ASSERT_TRUE(inner_->Complete(1));  // the good tail read first
    EXPECT_EQ(a->calls, 0);
    ASSERT_TRUE(inner_->Complete(0));  // then the failing head read
    ASSERT_EQ(a->calls, 1);
    EXPECT_EQ(a->status.code(), ETIMEDOUT);
    EXPECT_TRUE(a->status.retryable());
    EXPECT_EQ(a->status.scope(), Scope::kPath);
    EXPECT_EQ(a->status.message(), "head timed out");

    EXPECT_EQ(inner_->CompleteAll(), 3u);  // B's two edge reads and its write
    EXPECT_EQ(b->calls, 1);
    EXPECT_TRUE(b->status.ok());
    Expect(4 * bs_ - 1, Payload(2, 0xb0));
    EXPECT_EQ(Stored(), model_);
    // A sent no write.
    for (const Record& r : inner_->Requests()) {
        if (r.op == IoOp::kWrite) {
            EXPECT_EQ(r.offset, 3 * bs_);
        }
    }
}

TEST_P(RmwDeviceTest, FailingMergedWriteFailsTheWriteAndReleasesTheLock) {
    inner_->HoldCompletions(true);
    auto a = Write(100, Payload(50, 0xa0));
    auto b = Write(120, Payload(10, 0xb0));
    ASSERT_EQ(inner_->Pending(), 1u);
    inner_->FailNext(Status::Fail(EROFS, "write protected"));
    ASSERT_TRUE(inner_->CompleteNext());  // A's edge read; its write is the failing one
    ASSERT_TRUE(inner_->CompleteNext());
    ASSERT_EQ(a->calls, 1);
    EXPECT_EQ(a->status.code(), EROFS);
    EXPECT_EQ(inner_->CompleteAll(), 2u);
    EXPECT_EQ(b->calls, 1);
    EXPECT_TRUE(b->status.ok());
    Expect(120, Payload(10, 0xb0));
    EXPECT_EQ(Stored(), model_);
}

TEST_P(RmwDeviceTest, FailingReadReportsTheInnerStatus) {
    inner_->FailNext(Status::Fail(EIO, "bad sector"));
    std::vector<uint8_t> out(10);
    auto outcome = std::make_shared<Outcome>();
    rmw_.Submit(IoRequest{IoOp::kRead, 3, {iovec{out.data(), out.size()}}, Capture(outcome)});
    ASSERT_EQ(outcome->calls, 1);
    EXPECT_EQ(outcome->status.code(), EIO);
    EXPECT_EQ(outcome->status.message(), "bad sector");
}

TEST_P(RmwDeviceTest, RequestsPastTheCapacityCompleteWithEinvalAndSendNothing) {
    inner_->HoldCompletions(true);
    const uint64_t cap = kBlocks * bs_;
    std::vector<uint8_t> buf(2 * bs_);
    struct Case {
        IoOp op;
        uint64_t offset;
        uint64_t length;
    };
    const std::vector<Case> cases = {
        {IoOp::kRead, cap - 1, 2},
        {IoOp::kWrite, cap - 1, 2},
        {IoOp::kRead, cap, 1},
        {IoOp::kWrite, cap + 1, 1},
        {IoOp::kRead, cap - bs_, 2 * bs_},
        {IoOp::kWrite, cap - bs_, bs_ + 1},
        {IoOp::kRead, UINT64_MAX - 3, 8},
        {IoOp::kWrite, UINT64_MAX - 3, 8},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(IoOpName(c.op)) + " at " + std::to_string(c.offset));
        auto outcome = std::make_shared<Outcome>();
        rmw_.Submit(IoRequest{c.op, c.offset, {iovec{buf.data(), c.length}}, Capture(outcome)});
        ASSERT_EQ(outcome->calls, 1);  // inside Submit
        EXPECT_EQ(outcome->status.code(), EINVAL);
        EXPECT_FALSE(outcome->status.retryable());
    }
    EXPECT_TRUE(inner_->Requests().empty());
    EXPECT_EQ(inner_->Pending(), 0u);

    // Nothing was left locked: a write to the last block goes straight out.
    auto w = Write(cap - 2, Payload(2, 0xc0));
    EXPECT_EQ(inner_->Pending(), 1u);
    inner_->CompleteAll();
    EXPECT_TRUE(w->status.ok());
}

TEST_P(RmwDeviceTest, RangeEndingExactlyAtTheCapacityIsAccepted) {
    const uint64_t cap = kBlocks * bs_;
    auto w = Write(cap - 3, Payload(3, 0xd0));
    EXPECT_TRUE(w->status.ok()) << w->status.ToString();
    Expect(cap - 3, Payload(3, 0xd0));
    EXPECT_EQ(Stored(), model_);
    EXPECT_EQ(Read(cap - 5, 5), std::vector<uint8_t>(model_.end() - 5, model_.end()));
}

TEST_P(RmwDeviceTest, DiscardZeroesPartBlocksByReadModifyWriteAndDiscardsWholeOnes) {
    const uint64_t begin = bs_ + 100, end = 5 * bs_ + 7;
    auto outcome = std::make_shared<Outcome>();
    IoRequest r{IoOp::kDiscard, begin, {}, Capture(outcome)};
    r.discard_length = end - begin;
    rmw_.Submit(std::move(r));
    ASSERT_EQ(outcome->calls, 1);
    EXPECT_TRUE(outcome->status.ok()) << outcome->status.ToString();
    Expect(begin, std::vector<uint8_t>(end - begin, 0));
    EXPECT_EQ(Stored(), model_);
    EXPECT_EQ(inner_->Requests(), (std::vector<Record>{{IoOp::kRead, bs_, bs_},
                                                       {IoOp::kWrite, bs_, bs_},
                                                       {IoOp::kRead, 5 * bs_, bs_},
                                                       {IoOp::kWrite, 5 * bs_, bs_},
                                                       {IoOp::kDiscard, 2 * bs_, 3 * bs_}}));
}

TEST_P(RmwDeviceTest, DiscardInsideOneBlockIsOneReadModifyWrite) {
    auto outcome = std::make_shared<Outcome>();
    IoRequest r{IoOp::kDiscard, 2 * bs_ + 10, {}, Capture(outcome)};
    r.discard_length = 20;
    rmw_.Submit(std::move(r));
    ASSERT_TRUE(outcome->status.ok());
    Expect(2 * bs_ + 10, std::vector<uint8_t>(20, 0));
    EXPECT_EQ(Stored(), model_);
    EXPECT_EQ(inner_->Requests().size(), 2u);
}

TEST_P(RmwDeviceTest, DiscardOnADeviceThatCannotFailsWithEopnotsuppAndTouchesNothing) {
    inner_->SetDiscard(false);
    EXPECT_FALSE(rmw_.CanDiscard());
    auto outcome = std::make_shared<Outcome>();
    IoRequest r{IoOp::kDiscard, bs_ + 1, {}, Capture(outcome)};
    r.discard_length = 4 * bs_;
    rmw_.Submit(std::move(r));
    EXPECT_EQ(outcome->status.code(), EOPNOTSUPP);
    EXPECT_TRUE(inner_->Requests().empty());
    EXPECT_EQ(Stored(), model_);
}

TEST_P(RmwDeviceTest, FlushPassesThrough) {
    auto outcome = std::make_shared<Outcome>();
    rmw_.Submit(IoRequest{IoOp::kFlush, 0, {}, Capture(outcome)});
    EXPECT_EQ(outcome->calls, 1);
    EXPECT_TRUE(outcome->status.ok());
    EXPECT_EQ(inner_->Requests(), (std::vector<Record>{{IoOp::kFlush, 0, 0}}));

    inner_->FailNext(Status::Retryable(ENOTCONN, "path down", Scope::kPath));
    auto failed = std::make_shared<Outcome>();
    rmw_.Submit(IoRequest{IoOp::kFlush, 0, {}, Capture(failed)});
    EXPECT_EQ(failed->calls, 1);
    EXPECT_EQ(failed->status.code(), ENOTCONN);
}

// A device below that acknowledged writes early and had some refused later.
class RefusingDevice final : public BlockDevice {
  public:
    uint64_t Capacity() const override { return 1 << 20; }
    uint32_t BlockSize() const override { return 512; }
    uint32_t Alignment() const override { return 512; }
    uint64_t WriteBackFailures() const override { return 3; }
    void Submit(IoRequest request) override {
        flushes_seen.push_back(request.failures_seen);
        request.done(Status::Ok());
    }
    std::vector<uint64_t> flushes_seen;
};

TEST(RmwDeviceFlushTest, PassesTheWriteBackFailureCountAndAFlushsSampleThrough) {
    auto inner = std::make_shared<RefusingDevice>();
    RmwDevice rmw(inner);
    EXPECT_EQ(rmw.WriteBackFailures(), 3u);
    IoRequest flush{IoOp::kFlush, 0, {}, [](Status) {}};
    flush.failures_seen = 2;
    rmw.Submit(std::move(flush));
    EXPECT_EQ(inner->flushes_seen, std::vector<uint64_t>{2});
}

}  // namespace
}  // namespace lunfs
