// The cache's units of memory (cache/block_cache.h): chunks of a LUN and the shards that own them.
// Internal to the cache; every field of a chunk is guarded by its shard's mutex.
#pragma once

#include <array>
#include <atomic>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "cache/block_cache.h"

namespace lunfs {

// One attempt to serve a read from memory; reads waiting for loads hold one.
struct BlockCache::Round {
    std::shared_ptr<ReadOp> op;
    std::atomic<int> pending{1};  // loads waited for, plus one held while the round is set up
    std::atomic<bool> abandoned{false};  // the read went to the LUN instead
};

struct BlockCache::Chunk {
    uint64_t index = 0;                 // chunk_bytes * index is its offset in the LUN
    std::unique_ptr<std::byte[]> data;  // allocated at its first block
    BlockSet present;                   // blocks whose bytes `data` holds
    BlockSet dirty;                     // present blocks newer than the LUN's
    BlockSet loading;                   // blocks a load will fill
    BlockSet writing;                   // blocks a write-back is taking to the LUN
    // Per block, how many write-backs in flight carry it: a flush may send a block again while
    // an older write-back of it is still on its way, and the block stays `writing` (so its
    // chunk is not evicted and a read is not sent to a LUN that lacks the newer copy) until the
    // last of them has finished.
    std::array<uint16_t, 128> writes{};
    // Present blocks whose write-back the LUN refused for good: kept (never evicted) so that
    // reads keep returning what was acknowledged; cleared when the block is written again.
    BlockSet failed;
    uint64_t epoch = 0;               // bumped whenever a write around the cache touches it
    int pins = 0;                     // reads from the LUN that will fill it
    TimePoint dirty_since{};          // when its oldest dirty block became dirty
    std::list<Chunk*>::iterator lru;  // its place in the shard's LRU
    std::vector<std::shared_ptr<Round>> waiters;  // reads waiting for its loads

    // Neither evicted nor dropped while anything is under way or unsaved.
    bool Busy() const {
        return dirty.any() || loading.any() || writing.any() || failed.any() || pins > 0 ||
               !waiters.empty();
    }
};

struct BlockCache::Shard {
    std::mutex mu;
    std::unordered_map<uint64_t, std::unique_ptr<Chunk>> chunks;  // by index
    std::list<Chunk*> lru;                                        // most recently used first
    std::set<uint64_t> dirty;  // indexes of chunks with dirty blocks, in LUN order
    uint64_t bytes = 0;        // memory held by chunk data
};

// A read as the cache handles it: the caller's request cut by chunk.
struct BlockCache::ReadOp {
    IoRequest request;
    std::vector<Piece> pieces;
};

// A readahead load: one request, straight into the chunks (direct) or into buffers of its own
// copied into them when it lands.
struct BlockCache::Load {
    uint64_t offset = 0;
    uint64_t length = 0;
    bool direct = false;
    std::unique_ptr<std::byte[]> buffer;  // direct: scratch for blocks it does not keep
    // Not direct: where it lands, in chunk-sized buffers taken from and given back to the
    // cache's spare chunk memory (iov covers the load's length).
    std::vector<std::unique_ptr<std::byte[]>> landing;
    std::vector<iovec> iov;
    std::vector<Piece> pieces;
    std::vector<BlockSet> marked;  // per piece: the loading bits this load set
    std::vector<uint64_t> epochs;  // per piece: the chunk's epoch when the load was sent
};

// A flush waiting for the write-backs sent before it. It is registered before it takes the
// dirty blocks, so that a write-back failing meanwhile either left its blocks dirty for this
// flush to take or marks it (transient).
struct BlockCache::FlushWaiter {
    static constexpr uint64_t kUnset = UINT64_MAX;
    uint64_t seq = kUnset;  // every write-back up to this one must have finished
    IoRequest request;
    std::optional<Status> transient;  // a write-back it covers failed, and its data is dirty
};

// A run of dirty blocks on its way to the LUN: where, the copy of its bytes (one buffer per
// chunk it spans), and which blocks of which chunks it carries.
struct BlockCache::WriteBackRun {
    uint64_t offset = 0;
    uint64_t length = 0;
    std::vector<std::pair<std::unique_ptr<std::byte[]>, uint64_t>> buffers;  // buffer, bytes
    std::vector<iovec> iov;
    std::vector<std::pair<uint64_t, BlockSet>> blocks;  // chunk index, blocks
};

}  // namespace lunfs
