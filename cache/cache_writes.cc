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

// A write or discard going around the cache, at send: it is newer than anything the cache holds
// for its blocks. Blocks the LUN may not have yet (dirty, on their way in a write-back, refused)
// take its bytes and stay present, so that a read before it lands never falls through to the
// LUN's older data: it waits behind those write-backs (send_queue_, the engine's ordering and
// fences), for up to seconds when a path failed. Other blocks are dropped. Loads and reads under
// way across this moment keep what they read to themselves. Returns whether it kept blocks; the
// chunk is then pinned until the request completes.
bool BlockCache::SupersedeLocked(Shard& shard, const Piece& p, const IoRequest& request) {
    auto it = shard.chunks.find(p.chunk);
    if (it == shard.chunks.end()) return false;
    Chunk& c = *it->second;
    const BlockSet written = Range(p.first, p.count);
    const BlockSet kept = written & c.present & (c.dirty | c.writing | c.failed);
    dirty_blocks_ -= (c.dirty & written).count();
    UnfailLocked(c, written);
    c.dirty &= ~written;
    for (uint32_t b = p.first; b < p.first + p.count; ++b) {
        if (!kept.test(b)) continue;
        std::byte* block = c.data.get() + uint64_t{b} * block_size_;
        if (request.op == IoOp::kDiscard) {
            std::memset(block, 0, block_size_);
        } else {
            CopyFromIov(request.iov, p.offset + uint64_t{b - p.first} * block_size_, block,
                        block_size_);
        }
    }
    c.present &= ~(written & ~kept);
    ++c.epoch;
    if (c.dirty.none()) shard.dirty.erase(c.index);
    if (kept.none()) return false;
    ++c.pins;
    return true;
}

void BlockCache::WriteThrough(IoRequest request) {
    // In write-back mode it queues behind the write-backs taken before it (send_queue_).
    std::unique_lock order(send_order_mu_, std::defer_lock);
    if (options_.mode == CacheMode::kWriteBack) order.lock();
    auto pieces = std::make_shared<std::vector<Piece>>(Pieces(request.offset, request.Length()));
    auto pinned = std::make_shared<std::vector<bool>>();
    for (const Piece& p : *pieces) {
        Shard& shard = ShardOf(p.chunk);
        std::lock_guard lock(shard.mu);
        pinned->push_back(SupersedeLocked(shard, p, request));
    }
    {
        std::lock_guard lock(ra_mu_);
        readahead_.Forget(request.offset, request.offset + request.Length());
    }
    IoCallback done = std::move(request.done);
    request.done = [this, pieces, pinned, done = std::move(done)](Status s) {
        // Again, for what was loaded while the write was under way. Blocks written into the cache
        // since it was sent are newer than it and stay: those still dirty, and those a
        // write-back is already taking to the LUN (nothing fills a block being written back, so
        // a present one holds what a write put there after this one's invalidation).
        for (size_t i = 0; i < pieces->size(); ++i) {
            const Piece& p = (*pieces)[i];
            Shard& shard = ShardOf(p.chunk);
            std::lock_guard lock(shard.mu);
            auto it = shard.chunks.find(p.chunk);
            if (it == shard.chunks.end()) continue;
            Chunk& c = *it->second;
            c.present &= ~(Range(p.first, p.count) & ~c.dirty & ~c.writing);
            ++c.epoch;
            if ((*pinned)[i]) --c.pins;
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
