#include "cache/block_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <thread>
#include <vector>

#include "tests/unit/fakes/fake_clock.h"
#include "tests/unit/fakes/memory_device.h"

namespace lunfs {
namespace {

using fakes::FakeClock;
using fakes::MemoryDevice;
using Record = MemoryDevice::Record;

constexpr uint32_t kBlock = 512;
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kCapacity = 64 * kMiB;

struct Outcome {
    int calls = 0;
    Status status;
};

std::vector<uint8_t> Pattern(uint64_t length, uint8_t tag) {
    std::vector<uint8_t> out(length);
    for (uint64_t i = 0; i < length; ++i) out[i] = static_cast<uint8_t>(tag * 31 + i % 251);
    return out;
}

class BlockCacheTest : public ::testing::Test {
  protected:
    static CacheOptions Options(CacheMode mode) {
        CacheOptions o;
        o.mode = mode;
        o.capacity_bytes = 16 * kMiB;
        o.chunk_bytes = 64 * kKiB;
        o.shards = 4;
        o.readahead.min_window = kMiB;
        o.readahead.max_window = 4 * kMiB;
        o.prefetch_bytes = kMiB;
        o.dirty_max_bytes = 4 * kMiB;
        o.writeback_delay = std::chrono::seconds(5);
        o.start_ticker = false;
        return o;
    }

    void Start(CacheOptions options) {
        device_ = std::make_shared<MemoryDevice>(kCapacity, kBlock);
        device_->Fill(0, Pattern(kCapacity, 1));
        cache_ = std::make_unique<BlockCache>(device_, options, clock_);
    }

    std::shared_ptr<Outcome> Submit(IoOp op, uint64_t offset, std::vector<uint8_t>& buffer,
                                    uint32_t flags = kIoNoFlags) {
        auto outcome = std::make_shared<Outcome>();
        IoRequest r{op, offset, {}, nullptr, flags};
        if (!buffer.empty()) r.iov = {iovec{buffer.data(), buffer.size()}};
        r.done = [outcome](Status s) {
            ++outcome->calls;
            outcome->status = std::move(s);
        };
        cache_->Submit(std::move(r));
        return outcome;
    }
    std::shared_ptr<Outcome> Read(uint64_t offset, std::vector<uint8_t>& buffer) {
        return Submit(IoOp::kRead, offset, buffer);
    }
    std::shared_ptr<Outcome> Write(uint64_t offset, std::vector<uint8_t>& buffer,
                                   uint32_t flags = kIoNoFlags) {
        return Submit(IoOp::kWrite, offset, buffer, flags);
    }
    // A flush from a handle that has been told of `failures_seen` write-back failures.
    std::shared_ptr<Outcome> Flush(uint64_t failures_seen = 0) {
        auto outcome = std::make_shared<Outcome>();
        IoRequest r{IoOp::kFlush, 0, {}, nullptr};
        r.failures_seen = failures_seen;
        r.done = [outcome](Status s) {
            ++outcome->calls;
            outcome->status = std::move(s);
        };
        cache_->Submit(std::move(r));
        return outcome;
    }
    // Reads [offset, offset + length) through the cache; the bytes, or empty on failure.
    std::vector<uint8_t> ReadBytes(uint64_t offset, uint64_t length) {
        std::vector<uint8_t> buffer(length);
        auto r = Read(offset, buffer);
        if (r->calls != 1 || !r->status.ok()) return {};
        return buffer;
    }
    // A write-back cache of 1 MiB (4 shards of 256 KiB) whose dirty limit never sends a write
    // around it, so that eviction is easy to force.
    void StartSmallWriteBack() {
        CacheOptions o = Options(CacheMode::kWriteBack);
        o.capacity_bytes = 1 * kMiB;
        o.dirty_max_bytes = 64 * kMiB;
        Start(o);
    }
    // Reads a 15 MiB stream past the first MiB: every chunk that can be evicted is.
    void EvictWhatCanGo() {
        for (uint64_t i = 1; i < 16; ++i) ReadBytes(i * kMiB, kMiB);
    }
    // A read while the device holds completions: the read, if it reaches the device, is completed
    // at once; what else is held stays held.
    std::vector<uint8_t> ReadHeld(uint64_t offset, uint64_t length) {
        std::vector<uint8_t> buffer(length);
        auto r = Read(offset, buffer);
        for (size_t i = device_->Pending(); r->calls == 0 && i-- > 0;) {
            if (device_->PendingAt(i).op == IoOp::kRead) device_->Complete(i);
        }
        if (r->calls != 1 || !r->status.ok()) return {};
        return buffer;
    }
    std::vector<uint8_t> Stored(uint64_t offset, uint64_t length) {
        return device_->Contents(offset, length);
    }
    size_t DeviceRequests(IoOp op) {
        size_t n = 0;
        for (const Record& r : device_->Requests()) n += r.op == op ? 1 : 0;
        return n;
    }

    std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
    std::shared_ptr<MemoryDevice> device_;
    std::unique_ptr<BlockCache> cache_;
};

TEST_F(BlockCacheTest, ModeNonePassesEveryRequestThroughUnchanged) {
    Start(Options(CacheMode::kNone));
    std::vector<uint8_t> a(4 * kKiB), b = Pattern(8 * kKiB, 9);
    Read(4 * kKiB, a);
    Read(4 * kKiB, a);
    Write(64 * kKiB, b);
    Flush();
    EXPECT_EQ(device_->Requests(), (std::vector<Record>{{IoOp::kRead, 4 * kKiB, 4 * kKiB},
                                                        {IoOp::kRead, 4 * kKiB, 4 * kKiB},
                                                        {IoOp::kWrite, 64 * kKiB, 8 * kKiB},
                                                        {IoOp::kFlush, 0, 0}}));
    EXPECT_EQ(cache_->Stats().capacity_bytes, 0u);
}

TEST_F(BlockCacheTest, AReadOutsideAnyStreamGoesToTheLunForExactlyItsBlocksAndIsNotKept) {
    Start(Options(CacheMode::kRead));
    EXPECT_EQ(ReadBytes(3 * kBlock, 4 * kKiB), Stored(3 * kBlock, 4 * kKiB));
    EXPECT_EQ(device_->Requests(), (std::vector<Record>{{IoOp::kRead, 3 * kBlock, 4 * kKiB}}));
    EXPECT_EQ(ReadBytes(3 * kBlock, 4 * kKiB), Stored(3 * kBlock, 4 * kKiB));
    EXPECT_EQ(DeviceRequests(IoOp::kRead), 2u);
    const CacheStats stats = cache_->Stats();
    EXPECT_EQ(stats.read_miss_bytes, 8 * kKiB);
    EXPECT_EQ(stats.read_hit_bytes, 0u);
    EXPECT_EQ(stats.cached_bytes, 0u);
}

TEST_F(BlockCacheTest, ReadsOfBlocksLoadedAheadAreServedFromMemory) {
    Start(Options(CacheMode::kRead));
    ReadBytes(0, kMiB);
    ReadBytes(kMiB, kMiB);  // loads [2, 6) MiB
    EXPECT_EQ(cache_->Stats().cached_bytes, 4 * kMiB);
    EXPECT_EQ(ReadBytes(2 * kMiB + 3 * kBlock, 4 * kKiB), Stored(2 * kMiB + 3 * kBlock, 4 * kKiB));
    EXPECT_EQ(ReadBytes(5 * kMiB, 64 * kKiB), Stored(5 * kMiB, 64 * kKiB));
    EXPECT_EQ(cache_->Stats().read_hit_bytes, 68 * kKiB);
    EXPECT_EQ(cache_->Stats().read_miss_bytes, 2 * kMiB);
}

TEST_F(BlockCacheTest, AReadPartlyInMemoryGoesToTheLunWholeAndFillsTheChunk) {
    Start(Options(CacheMode::kWriteBack));
    std::vector<uint8_t> dirty = Pattern(4 * kKiB, 2);
    Write(4 * kKiB, dirty);
    std::vector<uint8_t> expected = Stored(0, 8 * kKiB);
    std::copy(dirty.begin(), dirty.end(), expected.begin() + 4 * kKiB);
    EXPECT_EQ(ReadBytes(0, 8 * kKiB), expected);
    EXPECT_EQ(device_->Requests().back(), (Record{IoOp::kRead, 0, 8 * kKiB}));
    EXPECT_EQ(ReadBytes(0, 8 * kKiB), expected);
    EXPECT_EQ(DeviceRequests(IoOp::kRead), 1u);
}

TEST_F(BlockCacheTest, SequentialReadsLoadAheadAndAReadOfBlocksBeingLoadedWaitsForTheLoad) {
    Start(Options(CacheMode::kRead));
    device_->HoldCompletions(true);
    std::vector<uint8_t> a(kMiB), b(kMiB), c(kMiB);
    auto ra = Read(0, a);
    auto rb = Read(kMiB, b);  // the stream's second read: [2, 6) MiB is loaded ahead
    EXPECT_EQ(device_->Requests(), (std::vector<Record>{{IoOp::kRead, 0, kMiB},
                                                        {IoOp::kRead, 2 * kMiB, kMiB},
                                                        {IoOp::kRead, 3 * kMiB, kMiB},
                                                        {IoOp::kRead, 4 * kMiB, kMiB},
                                                        {IoOp::kRead, 5 * kMiB, kMiB},
                                                        {IoOp::kRead, kMiB, kMiB}}));
    auto rc = Read(2 * kMiB, c);
    EXPECT_EQ(device_->Requests().size(), 6u);  // c waits for the load of [2, 3) MiB
    device_->Fill(2 * kMiB, Pattern(kMiB, 5));  // what the load will find
    ASSERT_TRUE(device_->Complete(1));
    ASSERT_EQ(rc->calls, 1);
    EXPECT_TRUE(rc->status.ok());
    EXPECT_EQ(c, Pattern(kMiB, 5));
    device_->CompleteAll();
    EXPECT_EQ(ra->calls + rb->calls, 2);
    EXPECT_EQ(b, Stored(kMiB, kMiB));
    EXPECT_EQ(cache_->Stats().readahead_bytes, 4 * kMiB);
}

TEST_F(BlockCacheTest, TheReadaheadWindowIsAQuarterOfTheCacheAtMost) {
    CacheOptions o = Options(CacheMode::kRead);  // 16 MiB
    o.readahead.min_window = 8 * kMiB;
    o.readahead.max_window = 16 * kMiB;
    Start(o);
    std::vector<uint8_t> a(kMiB), b(kMiB);
    Read(0, a);
    Read(kMiB, b);  // the stream's second read: 4 MiB ahead, not 8
    EXPECT_EQ(DeviceRequests(IoOp::kRead), 6u);
    EXPECT_EQ(cache_->Stats().readahead_bytes, 4 * kMiB);
    EXPECT_EQ(b, Stored(kMiB, kMiB));
}

TEST_F(BlockCacheTest, ALoadOverBlocksAlreadyHeldKeepsThemAndFillsTheRest) {
    Start(Options(CacheMode::kRead));
    ReadBytes(2 * kMiB + 100 * kKiB, 8 * kKiB);  // held before the stream reaches them
    const uint64_t missed = cache_->Stats().read_miss_bytes;
    std::vector<uint8_t> a(kMiB), b(kMiB);
    Read(0, a);
    Read(kMiB, b);  // loads [2, 6) MiB around the held blocks
    EXPECT_EQ(ReadBytes(2 * kMiB, kMiB), Stored(2 * kMiB, kMiB));
    EXPECT_EQ(ReadBytes(3 * kMiB, 3 * kMiB), Stored(3 * kMiB, 3 * kMiB));
    EXPECT_EQ(cache_->Stats().read_hit_bytes, 4 * kMiB);
    EXPECT_EQ(cache_->Stats().read_miss_bytes, missed + 2 * kMiB);
}

TEST_F(BlockCacheTest, AFailedLoadSendsTheReadsWaitingForItToTheLun) {
    Start(Options(CacheMode::kRead));
    std::vector<uint8_t> a(kMiB), b(kMiB), c(kMiB);
    Read(0, a);
    device_->HoldCompletions(true);
    device_->FailNext(Status::Retryable(EIO, "path gone", Scope::kPath));
    Read(kMiB, b);  // its loads: the first fails
    auto rc = Read(2 * kMiB, c);
    const size_t before = device_->Requests().size();
    device_->CompleteAll();
    ASSERT_EQ(rc->calls, 1);
    EXPECT_TRUE(rc->status.ok());
    EXPECT_EQ(c, Stored(2 * kMiB, kMiB));
    EXPECT_GT(device_->Requests().size(), before);  // c read [2, 3) MiB itself
}

TEST_F(BlockCacheTest, AWriteDropsTheBlocksItCoversSoLaterReadsSeeIt) {
    Start(Options(CacheMode::kRead));
    ReadBytes(0, kMiB);
    ReadBytes(kMiB, kMiB);  // loads [2, 6) MiB
    const uint64_t at = 2 * kMiB;
    std::vector<uint8_t> data = Pattern(4 * kKiB, 7);
    auto w = Write(at + 8 * kKiB, data);
    ASSERT_TRUE(w->status.ok());
    EXPECT_EQ(Stored(at + 8 * kKiB, 4 * kKiB), data);
    const uint64_t missed = cache_->Stats().read_miss_bytes;
    EXPECT_EQ(ReadBytes(at, 64 * kKiB), Stored(at, 64 * kKiB));  // the chunk lost the blocks
    EXPECT_EQ(cache_->Stats().read_miss_bytes, missed + 64 * kKiB);
    const uint64_t hit = cache_->Stats().read_hit_bytes;
    EXPECT_EQ(ReadBytes(at + 32 * kKiB, 8 * kKiB), Stored(at + 32 * kKiB, 8 * kKiB));
    EXPECT_EQ(cache_->Stats().read_hit_bytes, hit + 8 * kKiB);  // untouched blocks stayed
}

TEST_F(BlockCacheTest, ALoadUnderWayAcrossAWriteKeepsNothing) {
    Start(Options(CacheMode::kRead));
    std::vector<uint8_t> a(kMiB), b(kMiB);
    Read(0, a);
    device_->HoldCompletions(true);
    Read(kMiB, b);  // loads [2, 6) MiB; the load of [2, 3) is the oldest request held
    std::vector<uint8_t> data = Pattern(64 * kKiB, 8);
    auto w = Write(2 * kMiB, data);
    // The target answers the load with the data from before the write, then takes the write.
    ASSERT_TRUE(device_->Complete(0));
    device_->CompleteAll();
    ASSERT_TRUE(w->status.ok());
    device_->HoldCompletions(false);
    EXPECT_EQ(ReadBytes(2 * kMiB, 64 * kKiB), data);
}

TEST_F(BlockCacheTest, AReadFromTheLunUnderWayAcrossAWriteKeepsNothing) {
    Start(Options(CacheMode::kRead));
    device_->HoldCompletions(true);
    std::vector<uint8_t> old(64 * kKiB);
    auto r = Read(0, old);
    std::vector<uint8_t> data = Pattern(64 * kKiB, 3);
    auto w = Write(0, data);
    ASSERT_TRUE(device_->Complete(0));  // the read sees the old bytes
    device_->CompleteAll();
    ASSERT_TRUE(r->status.ok() && w->status.ok());
    device_->HoldCompletions(false);
    EXPECT_EQ(ReadBytes(0, 64 * kKiB), data);
}

// A load sent before a write, held on a slow path, lands after the write and after a read from
// the LUN has brought the written data into the chunk: the chunk must keep the written data.
TEST_F(BlockCacheTest, ALoadLandingAfterAWriteAndARefillNeverPutsOlderDataBack) {
    Start(Options(CacheMode::kRead));
    std::vector<uint8_t> a(kMiB), b(kMiB);
    Read(0, a);
    device_->HoldCompletions(true);
    Read(kMiB, b);  // loads [2, 6) MiB: the load of [2, 3) MiB is the oldest request held
    ASSERT_EQ(device_->PendingAt(0), (Record{IoOp::kRead, 2 * kMiB, kMiB}));
    const std::vector<uint8_t> old = Stored(2 * kMiB, 64 * kKiB);
    std::vector<uint8_t> data = Pattern(64 * kKiB, 8);
    auto w = Write(2 * kMiB, data);
    ASSERT_TRUE(device_->Complete(device_->Pending() - 1));
    ASSERT_TRUE(w->status.ok());
    // A read across the chunk before: its blocks at 2 MiB are loading, the ones before are not
    // held, so it reads the whole range from the LUN (the written data).
    std::vector<uint8_t> across(128 * kKiB);
    auto r = Read(2 * kMiB - 64 * kKiB, across);
    ASSERT_TRUE(device_->Complete(device_->Pending() - 1));
    ASSERT_TRUE(r->status.ok());
    EXPECT_EQ(std::vector<uint8_t>(across.begin() + 64 * kKiB, across.end()), data);
    // The slow load answers with what it read before the write.
    device_->Fill(2 * kMiB, old);
    ASSERT_TRUE(device_->Complete(0));
    device_->Fill(2 * kMiB, data);
    device_->CompleteAll();
    device_->HoldCompletions(false);
    EXPECT_EQ(ReadBytes(2 * kMiB, 64 * kKiB), data);
}

TEST_F(BlockCacheTest, WriteBackCompletesAtOnceAndReadsSeeTheDirtyData) {
    Start(Options(CacheMode::kWriteBack));
    std::vector<uint8_t> data = Pattern(12 * kKiB, 4);
    const std::vector<uint8_t> before = Stored(kKiB, 12 * kKiB);
    auto w = Write(kKiB, data);
    ASSERT_EQ(w->calls, 1);
    EXPECT_TRUE(w->status.ok());
    EXPECT_TRUE(device_->Requests().empty());
    EXPECT_EQ(Stored(kKiB, 12 * kKiB), before);
    EXPECT_EQ(ReadBytes(kKiB, 12 * kKiB), data);
    EXPECT_TRUE(device_->Requests().empty());
    EXPECT_EQ(cache_->Stats().dirty_bytes, 12 * kKiB);
}

TEST_F(BlockCacheTest, AReadFromTheLunShowsDirtyBlocksOverWhatTheLunReturned) {
    Start(Options(CacheMode::kWriteBack));
    std::vector<uint8_t> data = Pattern(4 * kKiB, 6);
    Write(8 * kKiB, data);
    std::vector<uint8_t> expected = Stored(0, 32 * kKiB);
    std::copy(data.begin(), data.end(), expected.begin() + 8 * kKiB);
    EXPECT_EQ(ReadBytes(0, 32 * kKiB), expected);
    EXPECT_EQ(DeviceRequests(IoOp::kRead), 1u);
}

TEST_F(BlockCacheTest, FlushWritesBackEveryDirtyBlockThenSendsTheFlush) {
    Start(Options(CacheMode::kWriteBack));
    std::vector<uint8_t> a = Pattern(64 * kKiB, 1), b = Pattern(128 * kKiB, 2);
    std::vector<uint8_t> c = Pattern(4 * kKiB, 3);
    Write(0, a);
    Write(64 * kKiB, b);  // adjacent: one request with a
    Write(10 * kMiB, c);
    auto f = Flush();
    ASSERT_EQ(f->calls, 1);
    EXPECT_TRUE(f->status.ok());
    EXPECT_EQ(device_->Requests(), (std::vector<Record>{{IoOp::kWrite, 0, 192 * kKiB},
                                                        {IoOp::kWrite, 10 * kMiB, 4 * kKiB},
                                                        {IoOp::kFlush, 0, 0}}));
    EXPECT_EQ(Stored(0, 64 * kKiB), a);
    EXPECT_EQ(Stored(64 * kKiB, 128 * kKiB), b);
    EXPECT_EQ(Stored(10 * kMiB, 4 * kKiB), c);
    EXPECT_EQ(cache_->Stats().dirty_bytes, 0u);
    EXPECT_EQ(cache_->Stats().written_back_bytes, 196 * kKiB);
}

TEST_F(BlockCacheTest, FlushWaitsForWriteBacksAlreadyUnderWay) {
    Start(Options(CacheMode::kWriteBack));
    std::vector<uint8_t> a = Pattern(4 * kKiB, 1);
    Write(0, a);
    device_->HoldCompletions(true);
    clock_->Advance(std::chrono::seconds(6));
    cache_->Tick();  // writes [0, 4 KiB) back; held
    ASSERT_EQ(device_->Pending(), 1u);
    auto f = Flush();  // nothing dirty left, but the write-back is not done
    EXPECT_EQ(device_->Pending(), 1u);
    EXPECT_EQ(f->calls, 0);
    ASSERT_TRUE(device_->CompleteNext());
    ASSERT_EQ(device_->Pending(), 1u);
    EXPECT_EQ(device_->PendingAt(0), (Record{IoOp::kFlush, 0, 0}));
    device_->CompleteAll();
    EXPECT_TRUE(f->status.ok());
}

// Write-backs started side by side (two flushers) and writes around the cache, while a writer
// keeps rewriting the same blocks: whatever interleaving the threads take, every write-back
// reaches the LUN in the order its data was taken, so the LUN ends with the newest data.
TEST_F(BlockCacheTest, WriteBacksStartedSideBySideNeverLeaveOlderDataOnTheLun) {
    Start(Options(CacheMode::kWriteBack));
    constexpr int kBlocks = 4;
    constexpr int kRounds = 20000;
    std::atomic<bool> writing{true};
    std::vector<std::thread> flushers;
    for (int t = 0; t < 2; ++t) {
        flushers.emplace_back([&] {
            while (writing.load()) Flush();
        });
    }
    std::vector<uint8_t> last(kBlocks, 0);
    // A write around the cache may be sent by a flusher after Write() returned: its data stays.
    std::vector<std::vector<uint8_t>> data;
    data.reserve(kRounds);
    for (int i = 1; i <= kRounds; ++i) {
        const int block = i % kBlocks;
        last[block] = static_cast<uint8_t>(i % 251 + 1);
        data.emplace_back(kBlock, last[block]);
        Write(static_cast<uint64_t>(block) * kBlock, data.back(),
              i % 7 == 0 ? kIoWriteThrough : kIoNoFlags);
    }
    writing = false;
    for (std::thread& t : flushers) t.join();
    ASSERT_TRUE(Flush()->status.ok());
    for (int b = 0; b < kBlocks; ++b) {
        EXPECT_EQ(Stored(static_cast<uint64_t>(b) * kBlock, kBlock),
                  std::vector<uint8_t>(kBlock, last[b]))
            << "block " << b;
    }
}

// The device below may complete a write inside Submit() (a path layer failing at once when no
// path is up), and whoever wrote may then write again from that completion (RmwDevice granting
// the next overlapping write): the cache must not be holding anything that write needs.
TEST_F(BlockCacheTest, AWriteSubmittedFromTheCompletionOfAnotherGoesThrough) {
    Start(Options(CacheMode::kWriteBack));
    std::vector<uint8_t> first = Pattern(4 * kKiB, 2), second = Pattern(4 * kKiB, 3);
    auto inner = std::make_shared<Outcome>();
    IoRequest r{IoOp::kWrite, 0, {iovec{first.data(), first.size()}}, nullptr, kIoWriteThrough};
    r.done = [&](Status s) {
        ASSERT_TRUE(s.ok());
        inner = Write(8 * kKiB, second, kIoWriteThrough);  // from within the first's completion
    };
    cache_->Submit(std::move(r));
    EXPECT_EQ(inner->calls, 1);
    EXPECT_TRUE(inner->status.ok());
    EXPECT_EQ(Stored(0, first.size()), first);
    EXPECT_EQ(Stored(8 * kKiB, second.size()), second);

    // The same from a write-back's completion: a flush's write-back completing inside Submit.
    std::vector<uint8_t> third = Pattern(4 * kKiB, 4), fourth = Pattern(4 * kKiB, 5);
    Write(16 * kKiB, third);
    std::shared_ptr<Outcome> nested;
    IoRequest f{IoOp::kFlush, 0, {}, nullptr, kIoNoFlags};
    f.done = [&](Status s) {
        ASSERT_TRUE(s.ok());
        nested = Write(24 * kKiB, fourth, kIoWriteThrough);
    };
    cache_->Submit(std::move(f));
    ASSERT_TRUE(nested);
    EXPECT_EQ(nested->calls, 1);
    EXPECT_EQ(Stored(16 * kKiB, third.size()), third);
    EXPECT_EQ(Stored(24 * kKiB, fourth.size()), fourth);
}

Status NoPath() { return Status::Retryable(EIO, "no live path", Scope::kLun); }

TEST_F(BlockCacheTest, ATransientWriteBackFailureFailsTheFlushAndKeepsTheDataDirty) {
    Start(Options(CacheMode::kWriteBack));
    std::vector<uint8_t> a = Pattern(4 * kKiB, 11);
    const std::vector<uint8_t> before = Stored(0, 4 * kKiB);
    Write(0, a);
    device_->FailNext(NoPath());
    auto f1 = Flush();
    ASSERT_EQ(f1->calls, 1);
    EXPECT_EQ(f1->status.code(), EIO);
    EXPECT_EQ(cache_->Stats().dirty_bytes, 4 * kKiB);
    EXPECT_EQ(Stored(0, 4 * kKiB), before);
    EXPECT_EQ(cache_->WriteBackFailures(), 0u);  // not for good
    auto f2 = Flush();
    ASSERT_EQ(f2->calls, 1);
    EXPECT_TRUE(f2->status.ok());
    EXPECT_EQ(Stored(0, 4 * kKiB), a);
    EXPECT_EQ(cache_->Stats().dirty_bytes, 0u);
}

TEST_F(BlockCacheTest, ATransientlyFailedWriteBackIsRetriedAfterABackoffAndNeverEvicted) {
    CacheOptions o = Options(CacheMode::kWriteBack);
    o.capacity_bytes = 1 * kMiB;
    o.shards = 1;  // every chunk competes for the same 1 MiB
    Start(o);
    std::vector<uint8_t> a = Pattern(64 * kKiB, 11);
    Write(0, a);
    clock_->Advance(std::chrono::seconds(6));
    device_->FailNext(NoPath());
    cache_->Tick();  // the write-back fails
    EXPECT_EQ(DeviceRequests(IoOp::kWrite), 1u);
    cache_->Tick();  // not again at once
    EXPECT_EQ(DeviceRequests(IoOp::kWrite), 1u);
    EvictWhatCanGo();
    EXPECT_GT(cache_->Stats().evicted_bytes, 0u);
    EXPECT_EQ(ReadBytes(0, 64 * kKiB), a);
    clock_->Advance(std::chrono::seconds(6));
    cache_->Tick();
    EXPECT_EQ(DeviceRequests(IoOp::kWrite), 2u);
    EXPECT_EQ(Stored(0, 64 * kKiB), a);
    EXPECT_EQ(cache_->Stats().dirty_bytes, 0u);
}

// Like Linux's errseq: each handle's flush compares the count it has been told of with the
// cache's, so a failure is reported to every handle, not to whichever flush comes first.
TEST_F(BlockCacheTest, AWriteBackRefusedForGoodIsReportedToEveryHandleThatHadNotSeenIt) {
    Start(Options(CacheMode::kWriteBack));
    std::vector<uint8_t> a = Pattern(4 * kKiB, 11);
    Write(0, a);
    const uint64_t seen = cache_->WriteBackFailures();
    device_->FailNext(Status::Fail(EROFS, "write protected"));
    clock_->Advance(std::chrono::seconds(6));
    cache_->Tick();  // a write-back of the ticker's: no flush waits for it
    EXPECT_EQ(cache_->WriteBackFailures(), seen + 1);
    auto writer = Flush(seen);
    auto other = Flush(seen);
    ASSERT_EQ(writer->calls + other->calls, 2);
    EXPECT_EQ(writer->status.code(), EROFS);
    EXPECT_EQ(other->status.code(), EROFS);
    EXPECT_TRUE(Flush(cache_->WriteBackFailures())->status.ok());  // told already
    const CacheStats stats = cache_->Stats();
    EXPECT_EQ(stats.writeback_errors, 1u);
    EXPECT_EQ(stats.dirty_bytes, 0u);
}

TEST_F(BlockCacheTest, BlocksTheLunRefusedKeepServingTheAcknowledgedDataAndAreNeverEvicted) {
    CacheOptions o = Options(CacheMode::kWriteBack);
    o.capacity_bytes = 1 * kMiB;
    o.shards = 1;  // every chunk competes for the same 1 MiB
    Start(o);
    std::vector<uint8_t> a = Pattern(64 * kKiB, 11);
    Write(0, a);
    device_->FailNext(Status::Fail(EROFS, "write protected"));
    EXPECT_EQ(Flush()->status.code(), EROFS);
    EvictWhatCanGo();
    EXPECT_GT(cache_->Stats().evicted_bytes, 0u);
    EXPECT_EQ(ReadBytes(0, 64 * kKiB), a);
    std::vector<uint8_t> b = Pattern(4 * kKiB, 12);  // written again: it may go now
    Write(0, b);
    EXPECT_TRUE(Flush(cache_->WriteBackFailures())->status.ok());
    EXPECT_EQ(Stored(0, 4 * kKiB), b);
}

TEST_F(BlockCacheTest, AWriteThroughRequestIsNotKeptDirtyAndSupersedesDirtyBlocks) {
    Start(Options(CacheMode::kWriteBack));
    std::vector<uint8_t> dirty = Pattern(8 * kKiB, 1), direct = Pattern(4 * kKiB, 2);
    Write(0, dirty);
    device_->HoldCompletions(true);
    auto w = Write(0, direct, kIoWriteThrough);
    EXPECT_EQ(w->calls, 0);  // waits for the LUN
    EXPECT_EQ(device_->Requests(), (std::vector<Record>{{IoOp::kWrite, 0, 4 * kKiB}}));
    device_->CompleteAll();
    EXPECT_TRUE(w->status.ok());
    device_->HoldCompletions(false);
    Flush();  // only the dirty blocks the direct write did not cover go back
    EXPECT_EQ(device_->Requests()[1], (Record{IoOp::kWrite, 4 * kKiB, 4 * kKiB}));
    std::vector<uint8_t> expected = direct;
    expected.insert(expected.end(), dirty.begin() + 4 * kKiB, dirty.end());
    EXPECT_EQ(Stored(0, 8 * kKiB), expected);
}

TEST_F(BlockCacheTest, TickWritesBackBlocksDirtyForLongerThanTheDelay) {
    Start(Options(CacheMode::kWriteBack));
    std::vector<uint8_t> a = Pattern(4 * kKiB, 1), b = Pattern(4 * kKiB, 2);
    Write(0, a);
    clock_->Advance(std::chrono::seconds(3));
    Write(kMiB, b);
    cache_->Tick();
    EXPECT_TRUE(device_->Requests().empty());
    clock_->Advance(std::chrono::seconds(3));  // a is 6 s old, b 3 s
    cache_->Tick();
    EXPECT_EQ(device_->Requests(), (std::vector<Record>{{IoOp::kWrite, 0, 4 * kKiB}}));
    clock_->Advance(std::chrono::seconds(3));
    cache_->Tick();
    EXPECT_EQ(device_->Requests().back(), (Record{IoOp::kWrite, kMiB, 4 * kKiB}));
}

TEST_F(BlockCacheTest, DirtyDataPastHalfTheLimitIsWrittenBackAtTheNextTick) {
    Start(Options(CacheMode::kWriteBack));  // 4 MiB at most
    std::vector<uint8_t> a = Pattern(3 * kMiB, 1);
    Write(0, a);
    cache_->Tick();
    EXPECT_EQ(DeviceRequests(IoOp::kWrite), 1u);
    EXPECT_EQ(Stored(0, 3 * kMiB), a);
}

TEST_F(BlockCacheTest, AWriteThatWouldPassTheDirtyLimitGoesThrough) {
    Start(Options(CacheMode::kWriteBack));
    std::vector<uint8_t> a = Pattern(3 * kMiB, 1), b = Pattern(2 * kMiB, 2);
    Write(0, a);
    device_->HoldCompletions(true);
    auto w = Write(8 * kMiB, b);
    EXPECT_EQ(w->calls, 0);
    EXPECT_EQ(device_->Requests(), (std::vector<Record>{{IoOp::kWrite, 8 * kMiB, 2 * kMiB}}));
    device_->CompleteAll();
    EXPECT_TRUE(w->status.ok());
    EXPECT_EQ(cache_->Stats().dirty_bytes, 3 * kMiB);
}

// The LUN answers nothing (a frozen target): what the cache acknowledged and holds, dirty or
// copied for write-back, stays within dirty_max_bytes however often the ticker runs; the other
// writes wait for the LUN.
TEST_F(BlockCacheTest, AcknowledgedDataWaitingForTheLunStaysWithinTheDirtyLimit) {
    Start(Options(CacheMode::kWriteBack));  // 4 MiB dirty at most
    device_->HoldCompletions(true);
    std::vector<std::vector<uint8_t>> data;
    std::vector<std::shared_ptr<Outcome>> writes;
    for (uint64_t i = 0; i < 32; ++i) {
        data.push_back(Pattern(kMiB, static_cast<uint8_t>(i)));
        writes.push_back(Write(i * kMiB, data.back()));
        clock_->Advance(std::chrono::milliseconds(100));
        cache_->Tick();
    }
    uint64_t acknowledged = 0;
    for (const auto& w : writes) acknowledged += w->calls == 1 ? kMiB : 0;
    EXPECT_LE(acknowledged, 4 * kMiB);
    EXPECT_GT(acknowledged, 0u);
    EXPECT_LE(cache_->Stats().cached_bytes, 16 * kMiB);
    device_->CompleteAll();
    device_->HoldCompletions(false);
    ASSERT_TRUE(Flush()->status.ok());
    for (uint64_t i = 0; i < 32; ++i) EXPECT_EQ(Stored(i * kMiB, kMiB), data[i]) << i;
}

TEST_F(BlockCacheTest, TheTickerDoesNotWriteBackAgainBlocksStillBeingWritten) {
    Start(Options(CacheMode::kWriteBack));
    std::vector<uint8_t> a = Pattern(3 * kMiB, 1), b = Pattern(64 * kKiB, 2);
    Write(0, a);
    device_->HoldCompletions(true);
    cache_->Tick();  // past half the limit: [0, 3 MiB) goes, and is held
    ASSERT_EQ(device_->Pending(), 1u);
    Write(0, b);
    clock_->Advance(std::chrono::seconds(6));
    cache_->Tick();
    EXPECT_EQ(device_->Pending(), 1u);  // b waits for the write-back under way
    ASSERT_TRUE(device_->CompleteNext());
    cache_->Tick();
    ASSERT_EQ(device_->Pending(), 1u);
    EXPECT_EQ(device_->PendingAt(0), (Record{IoOp::kWrite, 0, 64 * kKiB}));
    device_->CompleteAll();
    EXPECT_EQ(Stored(0, 64 * kKiB), b);
}

// An acknowledged write's write-back is held (a fence); a newer write goes around the cache (the
// copy in flight fills the dirty limit) and queues behind it. A read in between must not return
// the LUN's bytes from before the acknowledged write.
TEST_F(BlockCacheTest, AWriteAroundTheCacheNeverDropsAcknowledgedDataTheLunLacks) {
    CacheOptions o = Options(CacheMode::kWriteBack);
    o.dirty_max_bytes = 64 * kKiB;
    Start(o);
    const std::vector<uint8_t> lun = Stored(0, 64 * kKiB);
    std::vector<uint8_t> acked = Pattern(64 * kKiB, 7), newer = Pattern(64 * kKiB, 8);
    ASSERT_EQ(Write(0, acked)->calls, 1);  // acknowledged from memory
    device_->HoldCompletions(true);
    cache_->Tick();  // past half the limit: its write-back goes, and is held
    ASSERT_EQ(device_->Pending(), 1u);
    auto through = Write(0, newer);  // the copy in flight leaves no room: it goes around
    ASSERT_EQ(through->calls, 0);
    ASSERT_EQ(device_->Pending(), 2u);
    std::vector<uint8_t> got = ReadHeld(0, 64 * kKiB);
    EXPECT_NE(got, lun) << "a read returned the LUN's bytes from before an acknowledged write";
    EXPECT_TRUE(got == acked || got == newer);
    device_->CompleteAll();
    device_->HoldCompletions(false);
    EXPECT_EQ(Stored(0, 64 * kKiB), newer);
    EXPECT_EQ(ReadBytes(0, 64 * kKiB), newer);
}

// The same with the acknowledged data still dirty, and the chunk under eviction pressure while
// the write around the cache is on its way.
TEST_F(BlockCacheTest, AWriteAroundTheCacheKeepsDirtyDataItSupersedesUntilItLands) {
    StartSmallWriteBack();
    std::vector<uint8_t> acked = Pattern(64 * kKiB, 9), newer = Pattern(64 * kKiB, 10);
    Write(0, acked);
    device_->HoldCompletions(true);
    auto through = Write(0, newer, kIoWriteThrough);
    ASSERT_EQ(device_->Pending(), 1u);
    device_->HoldCompletions(false);
    EvictWhatCanGo();
    const std::vector<uint8_t> got = ReadBytes(0, 64 * kKiB);
    EXPECT_TRUE(got == acked || got == newer) << "a read fell through to the LUN's older bytes";
    device_->CompleteAll();
    EXPECT_EQ(Stored(0, 64 * kKiB), newer);
    EXPECT_EQ(ReadBytes(0, 64 * kKiB), newer);
}

// A write around the cache held up (a fence, a slow path) while newer data is written into the
// cache and its write-back starts: when the older write completes, the newer data is what a read
// returns, not the LUN's bytes from before its write-back lands.
TEST_F(BlockCacheTest, AWriteAroundTheCacheCompletingLateKeepsNewerDataBeingWrittenBack) {
    Start(Options(CacheMode::kWriteBack));
    std::vector<uint8_t> older = Pattern(64 * kKiB, 5), newer = Pattern(64 * kKiB, 6);
    device_->HoldCompletions(true);
    auto through = Write(0, older, kIoWriteThrough);  // held on its way to the LUN
    Write(0, newer);                                  // acknowledged from memory
    auto flush = Flush();                             // its write-back is held too
    ASSERT_EQ(device_->Pending(), 2u);
    ASSERT_TRUE(device_->CompleteNext());  // the older write lands and completes
    ASSERT_EQ(through->calls, 1);
    device_->HoldCompletions(false);
    EXPECT_EQ(ReadBytes(0, 64 * kKiB), newer) << "a read returned what the LUN held before the "
                                                 "newer data's write-back landed";
    device_->CompleteAll();
    EXPECT_EQ(Stored(0, 64 * kKiB), newer);
}

// Two flushes send a block twice: the older write-back finishing first must leave the chunk held
// for the newer one, or the chunk is evicted and a read finds the LUN without the newer data.
TEST_F(BlockCacheTest, AChunkStaysWhileANewerWriteBackOfItsBlocksIsStillOnItsWay) {
    StartSmallWriteBack();
    std::vector<uint8_t> older = Pattern(64 * kKiB, 3), newer = Pattern(64 * kKiB, 4);
    Write(0, older);
    device_->HoldCompletions(true);
    auto first = Flush();
    Write(0, newer);
    auto second = Flush();
    ASSERT_EQ(device_->Pending(), 2u);     // both write-backs of block 0's chunk are on their way
    ASSERT_TRUE(device_->CompleteNext());  // the older one lands; the newer one is still held
    device_->HoldCompletions(false);
    EvictWhatCanGo();
    EXPECT_EQ(ReadBytes(0, 64 * kKiB), newer) << "a read found the LUN before the newer copy";
    device_->CompleteAll();
    EXPECT_EQ(Stored(0, 64 * kKiB), newer);
    EXPECT_EQ(first->calls + second->calls, 2);
}

TEST_F(BlockCacheTest, MemoryStaysWithinCapacityAndDirtyBlocksAreNeverDropped) {
    StartSmallWriteBack();
    std::vector<uint8_t> dirty = Pattern(64 * kKiB, 9);
    Write(0, dirty);
    EvictWhatCanGo();
    EXPECT_LE(cache_->Stats().cached_bytes, 1 * kMiB);
    EXPECT_GT(cache_->Stats().evicted_bytes, 0u);
    EXPECT_EQ(ReadBytes(0, 64 * kKiB), dirty);  // still in memory: never written back
    EXPECT_EQ(DeviceRequests(IoOp::kWrite), 0u);
}

TEST_F(BlockCacheTest, MisalignedAndOutOfRangeRequestsFailWithEinval) {
    Start(Options(CacheMode::kRead));
    std::vector<uint8_t> a(100), b(kBlock);
    EXPECT_EQ(Read(0, a)->status.code(), EINVAL);
    EXPECT_EQ(Read(kCapacity, b)->status.code(), EINVAL);
    EXPECT_TRUE(device_->Requests().empty());
}

TEST_F(BlockCacheTest, ADiscardGoesThroughAndDropsWhatItCovers) {
    Start(Options(CacheMode::kWriteBack));
    ReadBytes(0, 64 * kKiB);
    std::vector<uint8_t> dirty = Pattern(16 * kKiB, 5);
    Write(40 * kKiB, dirty);
    auto outcome = std::make_shared<Outcome>();
    IoRequest r{IoOp::kDiscard, 16 * kKiB, {}, nullptr};
    r.discard_length = 32 * kKiB;  // [16, 48) KiB: half of the dirty blocks
    r.done = [outcome](Status s) {
        ++outcome->calls;
        outcome->status = std::move(s);
    };
    cache_->Submit(std::move(r));
    ASSERT_TRUE(outcome->status.ok());
    std::vector<uint8_t> expected = Stored(0, 64 * kKiB);
    std::copy(dirty.begin() + 8 * kKiB, dirty.end(), expected.begin() + 48 * kKiB);
    EXPECT_EQ(ReadBytes(0, 64 * kKiB), expected);
    EXPECT_EQ(std::vector<uint8_t>(expected.begin() + 16 * kKiB, expected.begin() + 48 * kKiB),
              std::vector<uint8_t>(32 * kKiB, 0));
}

TEST_F(BlockCacheTest, ModesHaveNames) {
    EXPECT_STREQ(CacheModeName(CacheMode::kNone), "none");
    EXPECT_STREQ(CacheModeName(CacheMode::kRead), "read");
    EXPECT_STREQ(CacheModeName(CacheMode::kWriteBack), "writeback");
    EXPECT_EQ(ParseCacheMode("writeback"), CacheMode::kWriteBack);
    EXPECT_FALSE(ParseCacheMode("write-back").has_value());
}

}  // namespace
}  // namespace lunfs
