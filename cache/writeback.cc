// BlockCache: write-back and flush (see cache/block_cache.h for the contract).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cache/block_cache.h"
#include "cache/chunk.h"

namespace lunfs {

namespace {

constexpr uint64_t kMostRunBytes = 8u << 20;  // runs that meet are joined up to this size
// The ticker's wait after a write-back failed for a while: doubled by each such failure, up to
// the most, and forgotten at the next success.
constexpr Duration kFirstBackoff = std::chrono::milliseconds(100);
constexpr Duration kMostBackoff = std::chrono::seconds(5);

bool Transient(const Status& s) { return !s.ok() && s.retryable(); }

}  // namespace

uint64_t BlockCache::WriteBackFailures() const {
    std::lock_guard lock(wb_mu_);
    return failures_;
}

// Copies the runs of `take` (dirty blocks of `c`) for write-back and moves them from dirty to
// writing. The copies are counted before the dirty blocks are let go, so that HasDirtyRoom never
// sees less than is held.
void BlockCache::TakeRunsLocked(Chunk& c, const BlockSet& take, std::vector<WriteBackRun>& runs) {
    copy_bytes_ += take.count() * block_size_;
    for (uint32_t b = 0; b < blocks_per_chunk_;) {
        if (!take.test(b)) {
            ++b;
            continue;
        }
        uint32_t e = b;
        while (e < blocks_per_chunk_ && take.test(e)) ++e;
        WriteBackRun run;
        run.offset = c.index * chunk_bytes_ + uint64_t{b} * block_size_;
        run.length = uint64_t{e - b} * block_size_;
        // A whole chunk's copy is spare chunk memory; a smaller one is only its size.
        std::unique_ptr<std::byte[]> copy =
            run.length == chunk_bytes_ ? NewChunkData()
                                       : std::make_unique_for_overwrite<std::byte[]>(run.length);
        std::memcpy(copy.get(), c.data.get() + uint64_t{b} * block_size_, run.length);
        run.iov.push_back(iovec{copy.get(), run.length});
        run.buffers.emplace_back(std::move(copy), run.length);
        run.blocks.emplace_back(c.index, Range(b, e - b));
        runs.push_back(std::move(run));
        b = e;
    }
    dirty_blocks_ -= take.count();
    for (uint32_t b = 0; b < blocks_per_chunk_; ++b) c.writes[b] += take.test(b);
    c.writing |= take;
    c.dirty &= ~take;
}

// Runs that meet across chunk boundaries go as one request.
std::vector<BlockCache::WriteBackRun> BlockCache::MergeRuns(std::vector<WriteBackRun> runs) {
    std::sort(runs.begin(), runs.end(),
              [](const WriteBackRun& a, const WriteBackRun& b) { return a.offset < b.offset; });
    std::vector<WriteBackRun> merged;
    for (WriteBackRun& run : runs) {
        if (!merged.empty() && merged.back().offset + merged.back().length == run.offset &&
            merged.back().length + run.length <= kMostRunBytes) {
            WriteBackRun& last = merged.back();
            last.length += run.length;
            for (auto& b : run.buffers) last.buffers.push_back(std::move(b));
            last.iov.insert(last.iov.end(), run.iov.begin(), run.iov.end());
            last.blocks.insert(last.blocks.end(), run.blocks.begin(), run.blocks.end());
        } else {
            merged.push_back(std::move(run));
        }
    }
    return merged;
}

void BlockCache::StartWriteBack(bool all, TimePoint older_than, FlushWaiter* waiter) {
    std::unique_lock order(send_order_mu_);
    std::vector<WriteBackRun> runs;
    for (const auto& shard_ptr : shards_) {
        Shard& shard = *shard_ptr;
        std::lock_guard lock(shard.mu);
        for (auto it = shard.dirty.begin(); it != shard.dirty.end();) {
            Chunk& c = *shard.chunks.at(*it);
            const bool due = all || c.dirty_since <= older_than;
            const BlockSet take = waiter ? c.dirty : due ? c.dirty & ~c.writing : BlockSet();
            if (take.any()) TakeRunsLocked(c, take, runs);
            it = c.dirty.none() ? shard.dirty.erase(it) : std::next(it);
        }
    }
    QueueRunsLocked(MergeRuns(std::move(runs)), waiter);
    SendQueued(order);
}

void BlockCache::QueueRunsLocked(std::vector<WriteBackRun> runs, FlushWaiter* waiter) {
    std::vector<std::pair<uint64_t, std::shared_ptr<WriteBackRun>>> send;
    {
        std::lock_guard lock(wb_mu_);
        for (WriteBackRun& run : runs) {
            const uint64_t seq = next_seq_++;
            writing_.emplace(seq, true);
            send.emplace_back(seq, std::make_shared<WriteBackRun>(std::move(run)));
        }
        if (waiter) waiter->seq = next_seq_ - 1;
    }
    for (auto& [seq, run] : send) {
        IoRequest request{IoOp::kWrite, run->offset, run->iov, nullptr};
        request.done = [this, seq = seq, run = run](Status s) {
            SettleRun(*run, s);
            FinishWriteBack(seq, run->length, s);
        };
        send_queue_.push_back(Counted(std::move(request)));
    }
}

// Blocks that are no longer present were superseded by a write around the cache, and blocks
// dirty again hold newer data that will go anyway: neither is kept for this run's outcome.
void BlockCache::SettleRun(WriteBackRun& run, const Status& status) {
    for (const auto& [index, blocks] : run.blocks) {
        Shard& shard = ShardOf(index);
        std::lock_guard lock(shard.mu);
        Chunk& c = *shard.chunks.at(index);  // busy while writing: still there
        for (uint32_t b = 0; b < blocks_per_chunk_; ++b) {
            if (blocks.test(b) && --c.writes[b] == 0) c.writing.reset(b);
        }
        const BlockSet kept = blocks & c.present & ~c.dirty;
        if (Transient(status)) {
            RedirtyLocked(shard, c, kept);
        } else if (!status.ok()) {
            const BlockSet refused = kept & ~c.failed;
            failed_blocks_ += refused.count();
            c.failed |= refused;
        }
    }
    for (auto& [data, bytes] : run.buffers) {
        if (bytes == chunk_bytes_) DropChunkData(std::move(data));
    }
    run.buffers.clear();
    copy_bytes_ -= run.length;
}

void BlockCache::RedirtyLocked(Shard& shard, Chunk& c, const BlockSet& blocks) {
    if (blocks.none()) return;
    if (c.dirty.none()) {
        c.dirty_since = clock_->Now();
        shard.dirty.insert(c.index);
    }
    dirty_blocks_ += blocks.count();
    c.dirty |= blocks;
}

void BlockCache::FinishWriteBack(uint64_t seq, uint64_t bytes, const Status& status) {
    Duration backoff{};
    {
        std::lock_guard lock(wb_mu_);
        writing_.erase(seq);
        if (status.ok()) {
            backoff_ = Duration::zero();
        } else if (Transient(status)) {
            backoff = backoff_ = std::clamp<Duration>(2 * backoff_, kFirstBackoff, kMostBackoff);
            retry_at_ = clock_->Now() + backoff_;
            for (auto& w : flush_waiters_) {
                if (w->seq >= seq && !w->transient) w->transient = status;
            }
        } else {
            ++failures_;
            last_failure_ = status;
        }
    }
    if (Transient(status)) {
        spdlog::warn("write-back of {} bytes failed: {}; kept dirty, retried in {} ms", bytes,
                     status.ToString(),
                     std::chrono::duration_cast<std::chrono::milliseconds>(backoff).count());
    } else if (!status.ok()) {
        spdlog::error("write-back of {} bytes refused: {}; reported to every open handle", bytes,
                      status.ToString());
    }
    {
        std::lock_guard lock(stats_mu_);
        if (status.ok()) {
            stats_.written_back_bytes += bytes;
        } else if (Transient(status)) {
            ++stats_.writeback_retries;
        } else {
            ++stats_.writeback_errors;
        }
    }
    ReleaseFlushWaiters();
}

// What a flush whose write-backs have all finished returns instead of sending the flush on:
// the LUN's refusal when the count moved past what its caller has seen, else EIO when a
// write-back it covers failed for a while (its data is dirty again). Requires wb_mu_.
std::optional<Status> BlockCache::FlushErrorLocked(const FlushWaiter& w) const {
    if (failures_ > w.request.failures_seen) return last_failure_;
    if (w.transient) {
        return Status::Retryable(
            EIO,
            "write-back failed (" + w.transient->ToString() + "); the data is kept and retried",
            Scope::kLun);
    }
    return std::nullopt;
}

void BlockCache::ReleaseFlushWaiters() {
    std::vector<std::pair<IoRequest, std::optional<Status>>> ready;
    {
        std::lock_guard lock(wb_mu_);
        const uint64_t oldest = writing_.empty() ? UINT64_MAX : writing_.begin()->first;
        for (auto it = flush_waiters_.begin(); it != flush_waiters_.end();) {
            if ((*it)->seq == FlushWaiter::kUnset || (*it)->seq >= oldest) {
                ++it;
                continue;
            }
            ready.emplace_back(std::move((*it)->request), FlushErrorLocked(**it));
            it = flush_waiters_.erase(it);
        }
    }
    for (auto& [request, error] : ready) {
        IoCallback done = std::move(request.done);
        if (error) {
            done(std::move(*error));
            continue;
        }
        IoRequest flush{IoOp::kFlush, 0, {}, std::move(done)};
        SendInner(std::move(flush));
    }
}

void BlockCache::Flush(IoRequest request) {
    auto waiter = std::make_unique<FlushWaiter>();
    waiter->request = std::move(request);
    FlushWaiter* w = waiter.get();  // not released before StartWriteBack sets its seq
    {
        std::lock_guard lock(wb_mu_);
        flush_waiters_.push_back(std::move(waiter));
    }
    StartWriteBack(true, TimePoint::max(), w);
    ReleaseFlushWaiters();
}

void BlockCache::Tick() {
    if (options_.mode != CacheMode::kWriteBack) return;
    const TimePoint now = clock_->Now();
    {
        std::lock_guard lock(wb_mu_);
        if (now < retry_at_) return;
    }
    const bool pressed = dirty_blocks_.load() * block_size_ > options_.dirty_max_bytes / 2;
    if (pressed) {
        StartWriteBack(true, now, nullptr);
    } else if (now - TimePoint{} > options_.writeback_delay) {
        StartWriteBack(false, now - options_.writeback_delay, nullptr);
    }
}

}  // namespace lunfs
