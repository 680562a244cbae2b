// BlockCache: writes, write-back and flush (see cache/block_cache.h for the contract).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cache/block_cache.h"
#include "cache/chunk.h"
#include "core/iov.h"

namespace lunfs {

// ---- Writes ---------------------------------------------------------------------------------

void BlockCache::Write(IoRequest request) {
    const bool through =
        options_.mode != CacheMode::kWriteBack || (request.flags & kIoWriteThrough) != 0 ||
        dirty_blocks_.load() * block_size_ + request.Length() > options_.dirty_max_bytes;
    if (through) {
        WriteThrough(std::move(request));
        return;
    }
    for (const Piece& p : Pieces(request.offset, request.Length())) {
        Shard& shard = ShardOf(p.chunk);
        std::lock_guard lock(shard.mu);
        WriteBackLocked(shard, p, request.iov);
    }
    IoCallback done = std::move(request.done);
    done(Status::Ok());
}

// Copies the write's bytes for `p` into the chunk and marks them dirty. Always succeeds; the
// bool says whether the chunk had no dirty block before.
bool BlockCache::WriteBackLocked(Shard& shard, const Piece& p, const std::vector<iovec>& src) {
    Chunk& c = GetOrCreateLocked(shard, p.chunk);
    ++c.pins;  // not evicted while its data is being allocated
    if (!c.data) {
        EvictLocked(shard);
        c.data = NewChunkData();
        shard.bytes += chunk_bytes_;
    }
    --c.pins;
    CopyFromIov(src, p.offset, c.data.get() + uint64_t{p.first} * block_size_,
                uint64_t{p.count} * block_size_);
    const BlockSet written = Range(p.first, p.count);
    const bool was_clean = c.dirty.none();
    dirty_blocks_ += (written & ~c.dirty).count();
    c.present |= written;
    c.dirty |= written;
    if (was_clean) {
        c.dirty_since = clock_->Now();
        shard.dirty.insert(c.index);
    }
    Touch(shard, c);
    return was_clean;
}

// Drops the blocks of `p` from memory and makes loads and reads under way across this moment
// keep what they read to themselves. Dirty blocks are dropped too: the write going around the
// cache is newer.
void BlockCache::InvalidateLocked(Shard& shard, const Piece& p) {
    auto it = shard.chunks.find(p.chunk);
    if (it == shard.chunks.end()) return;
    Chunk& c = *it->second;
    const BlockSet written = Range(p.first, p.count);
    const BlockSet undirtied = c.dirty & written;
    dirty_blocks_ -= undirtied.count();
    c.dirty &= ~written;
    c.present &= ~written;
    ++c.epoch;
    if (c.dirty.none()) shard.dirty.erase(c.index);
}

void BlockCache::WriteThrough(IoRequest request) {
    // In write-back mode it queues behind the write-backs taken before it (send_queue_).
    std::unique_lock order(send_order_mu_, std::defer_lock);
    if (options_.mode == CacheMode::kWriteBack) order.lock();
    auto pieces = std::make_shared<std::vector<Piece>>(Pieces(request.offset, request.Length()));
    for (const Piece& p : *pieces) {
        Shard& shard = ShardOf(p.chunk);
        std::lock_guard lock(shard.mu);
        InvalidateLocked(shard, p);
    }
    {
        std::lock_guard lock(ra_mu_);
        readahead_.Forget(request.offset, request.offset + request.Length());
    }
    IoCallback done = std::move(request.done);
    request.done = [this, pieces, done = std::move(done)](Status s) {
        // Again, for what was loaded while the write was under way; blocks dirtied since it was
        // sent are newer than it and stay.
        for (const Piece& p : *pieces) {
            Shard& shard = ShardOf(p.chunk);
            std::lock_guard lock(shard.mu);
            auto it = shard.chunks.find(p.chunk);
            if (it == shard.chunks.end()) continue;
            Chunk& c = *it->second;
            c.present &= ~(Range(p.first, p.count) & ~c.dirty);
            ++c.epoch;
        }
        done(std::move(s));
    };
    if (order.owns_lock()) {
        send_queue_.push_back(std::move(request));
        SendQueued(order);
    } else {
        inner_->Submit(std::move(request));
    }
}

// ---- Write-back -----------------------------------------------------------------------------

namespace {

// A run of dirty blocks on its way to the LUN: where, the copy of its bytes, and which blocks
// of which chunks it carries.
struct WriteBackRun {
    uint64_t offset = 0;
    std::vector<std::unique_ptr<std::byte[]>> buffers;
    std::vector<iovec> iov;
    uint64_t length = 0;
    std::vector<std::pair<uint64_t, std::bitset<128>>> blocks;  // chunk index, blocks
};

}  // namespace

uint64_t BlockCache::StartWriteBack(bool all, TimePoint older_than) {
    std::unique_lock order(send_order_mu_);
    std::vector<WriteBackRun> runs;
    for (const auto& shard_ptr : shards_) {
        Shard& shard = *shard_ptr;
        std::lock_guard lock(shard.mu);
        for (auto it = shard.dirty.begin(); it != shard.dirty.end();) {
            Chunk& c = *shard.chunks.at(*it);
            if (!all && c.dirty_since > older_than) {
                ++it;
                continue;
            }
            for (uint32_t b = 0; b < blocks_per_chunk_;) {
                if (!c.dirty.test(b)) {
                    ++b;
                    continue;
                }
                uint32_t e = b;
                while (e < blocks_per_chunk_ && c.dirty.test(e)) ++e;
                WriteBackRun run;
                run.offset = c.index * chunk_bytes_ + uint64_t{b} * block_size_;
                run.length = uint64_t{e - b} * block_size_;
                run.buffers.push_back(NewChunkData());  // a run lies within one chunk
                std::memcpy(run.buffers.back().get(), c.data.get() + uint64_t{b} * block_size_,
                            run.length);
                run.iov.push_back(iovec{run.buffers.back().get(), run.length});
                const BlockSet taken = Range(b, e - b);
                run.blocks.emplace_back(c.index, taken);
                c.writing |= taken;
                runs.push_back(std::move(run));
                b = e;
            }
            dirty_blocks_ -= c.dirty.count();
            c.dirty.reset();
            it = shard.dirty.erase(it);
        }
    }
    // Runs that meet across chunk boundaries go as one request.
    std::sort(runs.begin(), runs.end(),
              [](const WriteBackRun& a, const WriteBackRun& b) { return a.offset < b.offset; });
    std::vector<WriteBackRun> merged;
    for (WriteBackRun& run : runs) {
        if (!merged.empty() && merged.back().offset + merged.back().length == run.offset &&
            merged.back().length + run.length <= (8u << 20)) {
            WriteBackRun& last = merged.back();
            last.length += run.length;
            for (auto& b : run.buffers) last.buffers.push_back(std::move(b));
            last.iov.insert(last.iov.end(), run.iov.begin(), run.iov.end());
            last.blocks.insert(last.blocks.end(), run.blocks.begin(), run.blocks.end());
        } else {
            merged.push_back(std::move(run));
        }
    }
    uint64_t last_seq;
    std::vector<std::pair<uint64_t, std::shared_ptr<WriteBackRun>>> send;
    {
        std::lock_guard lock(wb_mu_);
        for (WriteBackRun& run : merged) {
            const uint64_t seq = next_seq_++;
            writing_.emplace(seq, true);
            send.emplace_back(seq, std::make_shared<WriteBackRun>(std::move(run)));
        }
        last_seq = next_seq_ - 1;
    }
    for (auto& [seq, run] : send) {
        IoRequest request{IoOp::kWrite, run->offset, run->iov, nullptr};
        request.done = [this, seq = seq, run = run](Status s) {
            for (const auto& [index, blocks] : run->blocks) {
                Shard& shard = ShardOf(index);
                std::lock_guard lock(shard.mu);
                shard.chunks.at(index)->writing &= ~blocks;
            }
            for (auto& data : run->buffers) DropChunkData(std::move(data));
            FinishWriteBack(seq, run->length, s);
        };
        send_queue_.push_back(Counted(std::move(request)));
    }
    SendQueued(order);
    return last_seq;
}

void BlockCache::FinishWriteBack(uint64_t seq, uint64_t bytes, const Status& status) {
    if (!status.ok()) {
        spdlog::error("write-back of {} bytes failed: {}; reported at the next flush", bytes,
                      status.ToString());
    }
    {
        std::lock_guard lock(stats_mu_);
        if (status.ok()) {
            stats_.written_back_bytes += bytes;
        } else {
            ++stats_.writeback_errors;
        }
    }
    {
        std::lock_guard lock(wb_mu_);
        writing_.erase(seq);
        if (!status.ok() && !writeback_error_) writeback_error_ = status;
    }
    ReleaseFlushWaiters();
}

// Sends on every flush whose write-backs have all finished, with the first write-back error
// since the last flush that reported one.
void BlockCache::ReleaseFlushWaiters() {
    std::vector<std::pair<IoRequest, std::optional<Status>>> ready;
    {
        std::lock_guard lock(wb_mu_);
        const uint64_t oldest = writing_.empty() ? UINT64_MAX : writing_.begin()->first;
        for (auto it = flush_waiters_.begin(); it != flush_waiters_.end();) {
            if ((*it)->seq >= oldest) {
                ++it;
                continue;
            }
            std::optional<Status> error;
            error.swap(writeback_error_);
            ready.emplace_back(std::move((*it)->request), std::move(error));
            it = flush_waiters_.erase(it);
        }
    }
    for (auto& [request, error] : ready) {
        IoCallback done = std::move(request.done);
        IoRequest flush{IoOp::kFlush, 0, {}, nullptr};
        flush.done = [done = std::move(done), error = std::move(error)](Status s) {
            done(error ? *error : std::move(s));
        };
        SendInner(std::move(flush));
    }
}

void BlockCache::Flush(IoRequest request) {
    const uint64_t seq = StartWriteBack(true, TimePoint::max());
    {
        std::lock_guard lock(wb_mu_);
        auto waiter = std::make_unique<FlushWaiter>();
        waiter->seq = seq;
        waiter->request = std::move(request);
        flush_waiters_.push_back(std::move(waiter));
    }
    ReleaseFlushWaiters();
}

void BlockCache::Tick() {
    if (options_.mode != CacheMode::kWriteBack) return;
    const bool pressed = dirty_blocks_.load() * block_size_ > options_.dirty_max_bytes / 2;
    const TimePoint now = clock_->Now();
    if (pressed) {
        StartWriteBack(true, now);
    } else if (now - TimePoint{} > options_.writeback_delay) {
        StartWriteBack(false, now - options_.writeback_delay);
    }
}

}  // namespace lunfs
