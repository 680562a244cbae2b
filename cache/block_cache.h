// BlockCache: a LUN's memory, between the file and the multipath device.
//
// It decorates a block-aligned BlockDevice (every request is whole logical blocks; RmwDevice sits
// above it for byte ranges) and keeps blocks in chunks of `chunk_bytes` at chunk-aligned offsets,
// a sharded LRU bounded by `capacity_bytes`. Each chunk knows per block whether it holds the
// block (present), whether that is newer than the LUN (dirty), and whether a load or a write-back
// of it is under way. Modes:
//   none       every request goes straight through and nothing is kept: for LUNs that other
//              initiators write to while mounted (a cluster file system)
//   read       reads are served from memory where they can be and prefetched ahead of sequential
//              streams; every write goes to the LUN and completes when the LUN acknowledged it
//   writeback  as read, and a write without kIoWriteThrough completes once copied here; dirty
//              blocks reach the LUN after `writeback_delay`, when dirty data passes half of
//              `dirty_max_bytes`, and at every flush. A write that would take what the cache
//              holds for the LUN (dirty blocks, refused blocks and the copies write-backs in
//              flight carry) past `dirty_max_bytes` goes through to the LUN instead, and so
//              waits for it: writers are slowed, memory does not grow.
//
// Coherence. The cache assumes this mount is the LUN's only writer. A read never returns data
// older than a write that completed before the read was submitted: written-through blocks are
// dropped from memory when the write is sent and again when it completes, and a load or a read
// that was under way across such a write does not put what it read into memory. A read from the
// LUN never fills blocks a load is bringing: in read mode a load lands in chunk memory itself,
// so only the load decides whether those blocks are kept.
//
// Readahead (cache/readahead.h) loads ahead of each sequential stream in requests of
// `prefetch_bytes` that the engine spreads over every path; a read that finds its blocks being
// loaded waits for the load instead of reading them again.
//
// Write-back errors. Nothing acknowledged is forgotten. A write-back that fails with a
// retryable status (no live path for --no-path-timeout, BUSY after the engine's retries) leaves
// its blocks dirty: they are written again after a backoff (100 ms doubling to 5 s; the ticker
// sends nothing meanwhile) or at the next flush, and are never evicted while dirty. A write-back
// the LUN refuses for good (a status that is not retryable: DATA PROTECT, ILLEGAL REQUEST, MEDIUM
// ERROR) adds one to WriteBackFailures(); its blocks stay in memory, never evicted, and reads
// keep returning the acknowledged data, not the LUN's older bytes, until the blocks are written
// again or the mount ends (they count against dirty_max_bytes). `writeback_retries` counts the
// first kind, `writeback_errors` the second (it equals WriteBackFailures()).
//
// Flush. A flush (fsync, close) registers, writes back every block that is dirty when it arrives
// (also blocks an older write-back is still carrying), waits for that and for every write-back
// already under way, then sends the flush on (SYNCHRONIZE CACHE). It never succeeds while data
// it covers is not on the LUN: when one of those write-backs failed for a while, it fails with
// EIO at once (the wait is bounded by the engine's: --no-path-timeout, its retries) and the data
// stays dirty for the ticker or the next flush. When WriteBackFailures() has moved past the
// request's failures_seen, it fails with the latest refusal's error, so that every handle that
// samples the count at open hears of every refusal once (as Linux's errseq); the flush is then
// not sent on.
//
// Memory. Chunks hold at most capacity_bytes, except chunks that cannot be evicted (dirty,
// refused, being loaded or written); copies carried by write-backs in flight are at most
// dirty_max_bytes (plus one write per concurrent writer, checked before it is copied in). The
// ticker never copies again blocks a write-back is still carrying.
//
// Threads: Submit() from any thread. Completions run on the inner device's threads, or inside
// Submit() for reads served from memory and written-back writes. Tick() runs the write-back
// timer: on the cache's own thread, or by hand in tests. No lock of the cache is held while
// calling into the inner device or a caller's callback, so either may call back into the cache.
#pragma once

#include <atomic>
#include <bitset>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/readahead.h"
#include "core/block_device.h"
#include "core/clock.h"
#include "core/ticker.h"

namespace lunfs {

enum class CacheMode : uint8_t { kNone, kRead, kWriteBack };

const char* CacheModeName(CacheMode mode);
std::optional<CacheMode> ParseCacheMode(const std::string& name);

struct CacheOptions {
    CacheMode mode = CacheMode::kRead;
    uint64_t capacity_bytes = 64ull << 20;
    uint32_t chunk_bytes = 64u << 10;  // at most 128 blocks: larger is cut down
    unsigned shards = 16;
    ReadaheadOptions readahead;  // its window is held to a quarter of capacity_bytes at most
    uint64_t prefetch_bytes = 1u << 20;      // size of each readahead load
    uint64_t dirty_max_bytes = 16ull << 20;  // writeback: dirty data at most
    Duration writeback_delay = std::chrono::seconds(5);
    Duration tick = std::chrono::milliseconds(100);
    bool start_ticker = true;  // false: the owner calls Tick() (tests)
};

struct CacheStats {
    std::string mode;
    uint64_t capacity_bytes = 0;
    uint64_t cached_bytes = 0;  // memory held by chunks
    uint64_t dirty_bytes = 0;
    uint64_t read_hit_bytes = 0;      // read from memory
    uint64_t read_miss_bytes = 0;     // read from the LUN for a reader
    uint64_t readahead_bytes = 0;     // loaded ahead of streams
    uint64_t written_back_bytes = 0;  // dirty data written to the LUN
    uint64_t writing_bytes = 0;       // copies held by write-backs in flight
    uint64_t failed_bytes = 0;        // refused by the LUN for good, kept in memory
    uint64_t writeback_retries = 0;   // write-backs failed for a while: their data stayed dirty
    uint64_t writeback_errors = 0;    // write-backs the LUN refused for good (WriteBackFailures)
    uint64_t evicted_bytes = 0;
};

class BlockCache final : public BlockDevice {
  public:
    // `inner` must have Alignment() == BlockSize().
    BlockCache(std::shared_ptr<BlockDevice> inner, CacheOptions options,
               std::shared_ptr<Clock> clock);
    // Writes back nothing: the owner flushes first. Waits for the cache's own requests.
    ~BlockCache() override;

    uint64_t Capacity() const override { return inner_->Capacity(); }
    uint32_t BlockSize() const override { return inner_->BlockSize(); }
    uint32_t Alignment() const override { return inner_->BlockSize(); }
    void Submit(IoRequest request) override;
    bool CanDiscard() const override { return inner_->CanDiscard(); }
    uint64_t WriteBackFailures() const override;

    // Starts write-back of blocks dirty for longer than writeback_delay, or of the oldest when
    // dirty data passed half of dirty_max_bytes.
    void Tick();

    CacheStats Stats() const;
    const CacheOptions& options() const { return options_; }

  private:
    using BlockSet = std::bitset<128>;
    struct Chunk;
    struct Shard;
    struct ReadOp;
    struct Round;
    struct Load;
    struct FlushWaiter;
    struct WriteBackRun;

    // Blocks [first, last] of the LUN that a request touches, by chunk.
    struct Piece {
        uint64_t chunk = 0;   // chunk index
        uint32_t first = 0;   // first block in the chunk
        uint32_t count = 0;   // blocks
        uint64_t offset = 0;  // bytes into the request
    };
    std::vector<Piece> Pieces(uint64_t offset, uint64_t length) const;
    Shard& ShardOf(uint64_t chunk) const;
    static BlockSet Range(uint32_t first, uint32_t count);

    // Reads.
    void Read(IoRequest request);
    void TryRead(const std::shared_ptr<ReadOp>& op);
    void ReadThrough(const std::shared_ptr<ReadOp>& op);
    void Prefetch(ByteRange range);
    void FinishLoad(const std::shared_ptr<Load>& load, const Status& status);
    // Copies `src` (a request's bytes, `p` at p.offset) into the blocks of `allowed` that the
    // chunk does not hold, unless its epoch moved on from `epoch`. The chunk must exist and be
    // busy (pinned or loading). Requires the shard's lock.
    void FillLocked(Shard& shard, const Piece& p, const std::vector<iovec>& src, uint64_t epoch,
                    const BlockSet& allowed);

    // Writes.
    void Write(IoRequest request);
    // Whether `bytes` more may be acknowledged from memory: dirty, refused and in-flight copies
    // together stay within dirty_max_bytes.
    bool HasDirtyRoom(uint64_t bytes) const;
    bool WriteBackLocked(Shard& shard, const Piece& p, const std::vector<iovec>& src);
    // Clears `blocks` of the chunk's refused blocks (written again, or superseded).
    void UnfailLocked(Chunk& c, const BlockSet& blocks);
    // Writes and discards that go around the cache. What the cache holds of their blocks is
    // dropped, except blocks the LUN may lack, which take their bytes (SupersedeLocked).
    void WriteThrough(IoRequest request);
    bool SupersedeLocked(Shard& shard, const Piece& p, const IoRequest& request);

    // Write-back and flush (cache/writeback.cc).
    void Flush(IoRequest request);
    // Snapshots dirty blocks into write requests and sends them. A flush (`waiter` set) takes
    // every dirty block, also those a write-back under way is carrying an older copy of, and is
    // given the sequence number of the last write-back it must wait for. The ticker takes the
    // chunks dirty since before `older_than` (all when `all`), leaving blocks still being written.
    void StartWriteBack(bool all, TimePoint older_than, FlushWaiter* waiter);
    void TakeRunsLocked(Chunk& c, const BlockSet& take, std::vector<WriteBackRun>& runs);
    static std::vector<WriteBackRun> MergeRuns(std::vector<WriteBackRun> runs);
    // Numbers the runs and queues them on send_queue_ (requires send_order_mu_); a waiter is
    // given the last number.
    void QueueRunsLocked(std::vector<WriteBackRun> runs, FlushWaiter* waiter);
    // A write-back's blocks after it: ok, dirty again (transient failure) or refused for good.
    void SettleRun(WriteBackRun& run, const Status& status);
    void FinishWriteBack(uint64_t seq, uint64_t bytes, const Status& status);
    void RedirtyLocked(Shard& shard, Chunk& c, const BlockSet& blocks);
    // Completes or sends on every flush whose write-backs have all finished.
    void ReleaseFlushWaiters();
    std::optional<Status> FlushErrorLocked(const FlushWaiter& w) const;

    // Memory. Chunk buffers of evicted chunks are kept for new ones (up to the capacity's worth),
    // so that the cache's memory is reused rather than churned through the allocator.
    std::unique_ptr<std::byte[]> NewChunkData();
    void DropChunkData(std::unique_ptr<std::byte[]> data);
    Chunk& GetOrCreateLocked(Shard& shard, uint64_t index);
    void EvictLocked(Shard& shard);
    void Touch(Shard& shard, Chunk& chunk);

    // A request of the cache's own, counted until it completes so that the destructor can wait
    // for it; SendInner sends one to the inner device.
    IoRequest Counted(IoRequest request);
    void SendInner(IoRequest request);
    // Sends send_queue_ to the inner device in order, unless another thread is doing so already
    // (which then sends what this one queued too). `order` holds send_order_mu_ on entry and on
    // return; it is let go around each send. Write-backs are queued Counted(); a caller's write
    // is not (the caller waits for it).
    void SendQueued(std::unique_lock<std::mutex>& order);

    std::shared_ptr<BlockDevice> inner_;
    const CacheOptions options_;
    const uint32_t block_size_;
    const uint32_t chunk_bytes_;
    const uint32_t blocks_per_chunk_;
    std::shared_ptr<Clock> clock_;
    std::vector<std::unique_ptr<Shard>> shards_;

    mutable std::mutex ra_mu_;
    Readahead readahead_;  // guarded by ra_mu_

    // Writes that must reach the LUN in the order their data was taken: write-backs, and in
    // write-back mode writes around the cache. A write-back takes its dirty blocks, its sequence
    // number and its place in send_queue_ in one step under send_order_mu_ (so a flush's
    // write-backs also get lower numbers than any taken after it started); one thread at a time
    // then sends the queue in order, without the mutex (SendQueued), so that a write completing
    // inside the inner device's Submit() can queue the next one without waiting for itself.
    std::mutex send_order_mu_;
    std::deque<IoRequest> send_queue_;  // guarded by send_order_mu_
    bool sending_ = false;              // guarded by send_order_mu_: a thread is sending it

    mutable std::mutex wb_mu_;
    uint64_t next_seq_ = 1;             // guarded by wb_mu_: write-back sequence numbers
    std::map<uint64_t, bool> writing_;  // guarded by wb_mu_: write-backs in flight, by seq
    std::vector<std::unique_ptr<FlushWaiter>> flush_waiters_;  // guarded by wb_mu_
    uint64_t failures_ = 0;  // guarded by wb_mu_: write-backs refused for good (only grows)
    Status last_failure_;    // guarded by wb_mu_: the latest of them
    Duration backoff_{};     // guarded by wb_mu_: 0 after a success, doubled by each retry
    TimePoint retry_at_{};   // guarded by wb_mu_: the ticker writes back nothing before it

    std::atomic<uint64_t> dirty_blocks_{0};   // in every shard
    std::atomic<uint64_t> failed_blocks_{0};  // in every shard
    std::atomic<uint64_t> copy_bytes_{0};     // held by write-backs in flight

    std::mutex spare_mu_;
    std::vector<std::unique_ptr<std::byte[]>> spare_;  // guarded by spare_mu_

    mutable std::mutex stats_mu_;
    CacheStats stats_;  // guarded by stats_mu_ (cached_bytes and dirty_bytes are computed)

    std::mutex inner_mu_;
    std::condition_variable inner_cv_;
    int64_t inner_in_flight_ = 0;  // guarded by inner_mu_

    std::unique_ptr<Ticker> ticker_;  // write-back mode: calls Tick()
};

}  // namespace lunfs
