// BlockCache: writes into the cache and around it (see cache/block_cache.h for the contract);
// write-back and flush are in cache/writeback.cc.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cache/block_cache.h"
#include "cache/chunk.h"
#include "core/iov.h"

namespace lunfs {

// ---- Writes ---------------------------------------------------------------------------------

void BlockCache::Write(IoRequest request) {
    const bool through = options_.mode != CacheMode::kWriteBack ||
                         (request.flags & kIoWriteThrough) != 0 || !HasDirtyRoom(request.Length());
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

bool BlockCache::HasDirtyRoom(uint64_t bytes) const {
    const uint64_t held =
        (dirty_blocks_.load() + failed_blocks_.load()) * block_size_ + copy_bytes_.load();
    return held + bytes <= options_.dirty_max_bytes;
}

void BlockCache::UnfailLocked(Chunk& c, const BlockSet& blocks) {
    const BlockSet cleared = c.failed & blocks;
    failed_blocks_ -= cleared.count();
    c.failed &= ~blocks;
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
    UnfailLocked(c, written);  // dirty now: written back again
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
    UnfailLocked(c, written);
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
        // Again, for what was loaded while the write was under way. Blocks written into the cache
        // since it was sent are newer than it and stay: those still dirty, and those a
        // write-back is already taking to the LUN (nothing fills a block being written back, so
        // a present one holds what a write put there after this one's invalidation).
        for (const Piece& p : *pieces) {
            Shard& shard = ShardOf(p.chunk);
            std::lock_guard lock(shard.mu);
            auto it = shard.chunks.find(p.chunk);
            if (it == shard.chunks.end()) continue;
            Chunk& c = *it->second;
            c.present &= ~(Range(p.first, p.count) & ~c.dirty & ~c.writing);
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

}  // namespace lunfs
