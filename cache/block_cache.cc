// BlockCache: construction, memory, and the read side. Writes, write-back and flush are in
// cache/cache_writes.cc.
#include "cache/block_cache.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cache/chunk.h"
#include "core/iov.h"

namespace lunfs {

const char* CacheModeName(CacheMode mode) {
    switch (mode) {
        case CacheMode::kNone:
            return "none";
        case CacheMode::kRead:
            return "read";
        case CacheMode::kWriteBack:
            return "writeback";
    }
    return "?";
}

std::optional<CacheMode> ParseCacheMode(const std::string& name) {
    for (CacheMode m : {CacheMode::kNone, CacheMode::kRead, CacheMode::kWriteBack}) {
        if (name == CacheModeName(m)) return m;
    }
    return std::nullopt;
}

namespace {

uint32_t ChunkBytes(uint32_t wanted, uint32_t block_size) {
    const uint64_t most = uint64_t{128} * block_size;
    uint64_t bytes = std::clamp<uint64_t>(wanted, block_size, most);
    return static_cast<uint32_t>(bytes - bytes % block_size);
}

}  // namespace

namespace {

// The readahead window fitted to the cache: at most a quarter of it, or the bytes loaded ahead
// would push out what was loaded before the reader got there (several streams share the cache,
// and each shard holds its share of it).
ReadaheadOptions FitReadahead(const CacheOptions& o) {
    ReadaheadOptions r = o.readahead;
    r.max_window = std::min(r.max_window, o.capacity_bytes / 4);
    r.min_window = std::min(r.min_window, r.max_window);
    return r;
}

}  // namespace

BlockCache::BlockCache(std::shared_ptr<BlockDevice> inner, CacheOptions options,
                       std::shared_ptr<Clock> clock)
    : inner_(std::move(inner)),
      options_(options),
      block_size_(inner_->BlockSize()),
      chunk_bytes_(ChunkBytes(options.chunk_bytes, block_size_)),
      blocks_per_chunk_(chunk_bytes_ / block_size_),
      clock_(std::move(clock)),
      readahead_(FitReadahead(options)) {
    for (unsigned i = 0; i < std::max(1u, options_.shards); ++i) {
        shards_.push_back(std::make_unique<Shard>());
    }
    stats_.mode = CacheModeName(options_.mode);
    stats_.capacity_bytes = options_.mode == CacheMode::kNone ? 0 : options_.capacity_bytes;
    if (options_.mode == CacheMode::kWriteBack && options_.start_ticker) {
        ticker_ = std::make_unique<Ticker>(options_.tick, [this] { Tick(); });
    }
}

BlockCache::~BlockCache() {
    ticker_.reset();
    std::unique_lock lock(inner_mu_);
    inner_cv_.wait(lock, [&] { return inner_in_flight_ == 0; });
}

IoRequest BlockCache::Counted(IoRequest request) {
    {
        std::lock_guard lock(inner_mu_);
        ++inner_in_flight_;
    }
    IoCallback done = std::move(request.done);
    request.done = [this, done = std::move(done)](Status s) {
        done(std::move(s));
        std::lock_guard lock(inner_mu_);
        if (--inner_in_flight_ == 0) inner_cv_.notify_all();
    };
    return request;
}

void BlockCache::SendInner(IoRequest request) { inner_->Submit(Counted(std::move(request))); }

void BlockCache::SendQueued(std::unique_lock<std::mutex>& order) {
    if (sending_) return;
    sending_ = true;
    while (!send_queue_.empty()) {
        IoRequest request = std::move(send_queue_.front());
        send_queue_.pop_front();
        order.unlock();
        inner_->Submit(std::move(request));
        order.lock();
    }
    sending_ = false;
}

void BlockCache::Submit(IoRequest request) {
    if (options_.mode == CacheMode::kNone) {
        inner_->Submit(std::move(request));
        return;
    }
    if (CompleteWithoutIo(*this, request)) return;
    switch (request.op) {
        case IoOp::kRead:
            Read(std::move(request));
            return;
        case IoOp::kWrite:
            Write(std::move(request));
            return;
        case IoOp::kFlush:
            Flush(std::move(request));
            return;
        case IoOp::kDiscard:
            WriteThrough(std::move(request));
            return;
    }
}

// ---- Memory ---------------------------------------------------------------------------------

std::vector<BlockCache::Piece> BlockCache::Pieces(uint64_t offset, uint64_t length) const {
    std::vector<Piece> out;
    for (uint64_t at = offset; at < offset + length;) {
        const uint64_t chunk = at / chunk_bytes_;
        const uint64_t chunk_end = (chunk + 1) * chunk_bytes_;
        const uint64_t end = std::min(chunk_end, offset + length);
        out.push_back(Piece{chunk, static_cast<uint32_t>((at - chunk * chunk_bytes_) / block_size_),
                            static_cast<uint32_t>((end - at) / block_size_), at - offset});
        at = end;
    }
    return out;
}

BlockCache::Shard& BlockCache::ShardOf(uint64_t chunk) const {
    return *shards_[chunk % shards_.size()];
}

// Appends [base, base + length) to `iov`, joining it to the last entry when they touch.
static void AppendIov(std::vector<iovec>& iov, std::byte* base, size_t length) {
    if (!iov.empty() && iov.back().iov_base &&
        static_cast<std::byte*>(iov.back().iov_base) + iov.back().iov_len == base) {
        iov.back().iov_len += length;
    } else {
        iov.push_back(iovec{base, length});
    }
}

BlockCache::BlockSet BlockCache::Range(uint32_t first, uint32_t count) {
    BlockSet set;
    for (uint32_t b = first; b < first + count; ++b) set.set(b);
    return set;
}

BlockCache::Chunk& BlockCache::GetOrCreateLocked(Shard& shard, uint64_t index) {
    auto it = shard.chunks.find(index);
    if (it != shard.chunks.end()) return *it->second;
    EvictLocked(shard);
    auto chunk = std::make_unique<Chunk>();
    chunk->index = index;
    shard.lru.push_front(chunk.get());
    chunk->lru = shard.lru.begin();
    Chunk& c = *chunk;
    shard.chunks.emplace(index, std::move(chunk));
    return c;
}

std::unique_ptr<std::byte[]> BlockCache::NewChunkData() {
    {
        std::lock_guard lock(spare_mu_);
        if (!spare_.empty()) {
            std::unique_ptr<std::byte[]> data = std::move(spare_.back());
            spare_.pop_back();
            return data;
        }
    }
    return std::make_unique_for_overwrite<std::byte[]>(chunk_bytes_);
}

void BlockCache::DropChunkData(std::unique_ptr<std::byte[]> data) {
    std::lock_guard lock(spare_mu_);
    if (spare_.size() < options_.capacity_bytes / chunk_bytes_) spare_.push_back(std::move(data));
}

void BlockCache::Touch(Shard& shard, Chunk& chunk) {
    shard.lru.splice(shard.lru.begin(), shard.lru, chunk.lru);
}

// Drops least recently used idle chunks until the shard has room for one more.
void BlockCache::EvictLocked(Shard& shard) {
    const uint64_t room = options_.capacity_bytes / shards_.size();
    uint64_t evicted = 0;
    for (auto it = shard.lru.end(); it != shard.lru.begin() && shard.bytes + chunk_bytes_ > room;) {
        --it;
        Chunk* c = *it;
        if (c->Busy()) continue;
        if (c->data) {
            shard.bytes -= chunk_bytes_;
            evicted += chunk_bytes_;
            DropChunkData(std::move(c->data));
        }
        it = shard.lru.erase(it);
        shard.chunks.erase(c->index);
    }
    if (evicted) {
        std::lock_guard lock(stats_mu_);
        stats_.evicted_bytes += evicted;
    }
}

void BlockCache::FillLocked(Shard& shard, const Piece& p, const std::vector<iovec>& src,
                            uint64_t epoch, const BlockSet& allowed) {
    Chunk& c = *shard.chunks.at(p.chunk);
    if (c.epoch != epoch) return;  // a write went around the cache meanwhile
    // Never blocks a write-back is taking to the LUN: what the LUN returned for them may predate
    // it, and a block present while it is written holds the newest data (see WriteThrough).
    const BlockSet fill = Range(p.first, p.count) & allowed & ~c.present & ~c.writing;
    if (fill.none()) return;
    if (!c.data) {
        EvictLocked(shard);  // never this chunk: it is busy
        c.data = NewChunkData();
        shard.bytes += chunk_bytes_;
    }
    for (uint32_t b = p.first; b < p.first + p.count; ++b) {
        if (!fill.test(b)) continue;
        CopyFromIov(src, p.offset + uint64_t{b - p.first} * block_size_,
                    c.data.get() + uint64_t{b} * block_size_, block_size_);
    }
    c.present |= fill;
    Touch(shard, c);
}

// ---- Reads ----------------------------------------------------------------------------------

void BlockCache::Read(IoRequest request) {
    auto op = std::make_shared<ReadOp>();
    op->pieces = Pieces(request.offset, request.Length());
    op->request = std::move(request);
    ByteRange ahead;
    {
        std::lock_guard lock(ra_mu_);
        ahead = readahead_.OnRead(op->request.offset, op->request.Length(), Capacity());
    }
    if (!ahead.empty()) Prefetch(ahead);
    TryRead(op);
}

// Serves the read from memory when every block is present, waits when the missing ones are all
// being loaded, and reads from the LUN otherwise.
void BlockCache::TryRead(const std::shared_ptr<ReadOp>& op) {
    auto round = std::make_shared<Round>();
    round->op = op;
    bool waits = false, missing = false;
    for (const Piece& p : op->pieces) {
        Shard& shard = ShardOf(p.chunk);
        std::lock_guard lock(shard.mu);
        auto it = shard.chunks.find(p.chunk);
        const BlockSet need = Range(p.first, p.count);
        if (it == shard.chunks.end()) {
            missing = true;
            break;
        }
        Chunk& c = *it->second;
        if ((c.present & need) == need) {
            CopyToIov(op->request.iov, p.offset, c.data.get() + uint64_t{p.first} * block_size_,
                      uint64_t{p.count} * block_size_);
            Touch(shard, c);
        } else if (((c.present | c.loading) & need) == need) {
            round->pending.fetch_add(1);
            c.waiters.push_back(round);
            waits = true;
        } else {
            missing = true;
            break;
        }
    }
    if (missing) {
        round->abandoned = true;
        round->pending.fetch_sub(1);
        ReadThrough(op);
        return;
    }
    if (round->pending.fetch_sub(1) != 1) return;  // the last load it waits for runs it again
    if (waits) {
        TryRead(op);  // every load it waited for finished while it was being set up
        return;
    }
    {
        std::lock_guard lock(stats_mu_);
        stats_.read_hit_bytes += op->request.Length();
    }
    IoCallback done = std::move(op->request.done);
    done(Status::Ok());
}

// Reads from the LUN into the caller's buffers. Where the cache has chunks of the range, it then
// lays the blocks it holds over what came back (they may be newer) and fills the chunks' other
// blocks with it; a read that touches no chunk (a random read, the first of a stream) goes
// through untouched and is not kept: the cache keeps what it loads ahead and what is written.
void BlockCache::ReadThrough(const std::shared_ptr<ReadOp>& op) {
    {
        std::lock_guard lock(stats_mu_);
        stats_.read_miss_bytes += op->request.Length();
    }
    bool any = false;
    for (const Piece& p : op->pieces) {
        Shard& shard = ShardOf(p.chunk);
        std::lock_guard lock(shard.mu);
        if (shard.chunks.count(p.chunk)) {
            any = true;
            break;
        }
    }
    if (!any) {
        inner_->Submit(std::move(op->request));
        return;
    }
    std::vector<uint64_t> epochs;
    for (const Piece& p : op->pieces) {
        Shard& shard = ShardOf(p.chunk);
        std::lock_guard lock(shard.mu);
        Chunk& c = GetOrCreateLocked(shard, p.chunk);
        ++c.pins;
        epochs.push_back(c.epoch);
    }
    IoRequest inner{IoOp::kRead, op->request.offset, op->request.iov, nullptr};
    inner.done = [this, op, epochs = std::move(epochs)](Status s) {
        for (size_t i = 0; i < op->pieces.size(); ++i) {
            const Piece& p = op->pieces[i];
            Shard& shard = ShardOf(p.chunk);
            std::lock_guard lock(shard.mu);
            Chunk& c = *shard.chunks.at(p.chunk);  // pinned: still there
            if (s.ok()) {
                for (uint32_t b = p.first; b < p.first + p.count; ++b) {
                    if (!c.present.test(b)) continue;
                    CopyToIov(op->request.iov, p.offset + uint64_t{b - p.first} * block_size_,
                              c.data.get() + uint64_t{b} * block_size_, block_size_);
                }
                // Never blocks being loaded: in read mode a load lands in chunk memory, and one
                // sent before a write would land over what this read put there.
                FillLocked(shard, p, op->request.iov, epochs[i], ~c.loading);
            }
            --c.pins;
        }
        IoCallback done = std::move(op->request.done);
        done(std::move(s));
    };
    inner_->Submit(std::move(inner));
}

// Loads [range) in requests of prefetch_bytes; blocks already present or being loaded are not
// loaded again (a request whose blocks all are is not sent). In read mode a load lands in the
// chunks themselves: nothing else writes chunk memory there. In writeback mode a write may fill
// a block while it is being loaded, so a load lands in buffers of its own and is copied in;
// they are chunk-sized spares (NewChunkData), so that a stream's loads reuse the same memory
// instead of leaving freed megabytes behind in the allocator's per-thread arenas.
void BlockCache::Prefetch(ByteRange range) {
    const uint64_t unit = std::max<uint64_t>(options_.prefetch_bytes, chunk_bytes_);
    const bool direct = options_.mode == CacheMode::kRead;
    for (uint64_t at = range.begin; at < range.end;) {
        const uint64_t end = std::min(range.end, (at / unit + 1) * unit);
        auto load = std::make_shared<Load>();
        load->offset = at;
        load->length = end - at;
        load->pieces = Pieces(at, end - at);
        std::vector<iovec> iov;
        std::vector<size_t> scratch_at;  // iovecs of blocks others hold or load
        uint64_t skipped = 0;
        bool any = false;
        for (const Piece& p : load->pieces) {
            Shard& shard = ShardOf(p.chunk);
            std::lock_guard lock(shard.mu);
            Chunk& c = GetOrCreateLocked(shard, p.chunk);
            const BlockSet mark = Range(p.first, p.count) & ~(c.present | c.loading);
            c.loading |= mark;  // busy from here on: never evicted under the load
            load->marked.push_back(mark);
            load->epochs.push_back(c.epoch);
            any = any || mark.any();
            if (!direct) continue;
            if (mark.any() && !c.data) {
                EvictLocked(shard);
                c.data = NewChunkData();
                shard.bytes += chunk_bytes_;
            }
            for (uint32_t b = p.first; b < p.first + p.count; ++b) {
                if (mark.test(b)) {
                    AppendIov(iov, c.data.get() + uint64_t{b} * block_size_, block_size_);
                } else if (!scratch_at.empty() && scratch_at.back() + 1 == iov.size()) {
                    iov.back().iov_len += block_size_;  // scratch, joined to the last one
                    skipped += block_size_;
                } else {  // not kept: into scratch, placed once its size is known
                    scratch_at.push_back(iov.size());
                    iov.push_back(iovec{nullptr, block_size_});
                    skipped += block_size_;
                }
            }
        }
        at = end;
        if (!any) continue;
        if (direct) {
            if (skipped) load->buffer = std::make_unique_for_overwrite<std::byte[]>(skipped);
            std::byte* next = load->buffer.get();
            for (size_t i : scratch_at) {
                iov[i].iov_base = next;
                next += iov[i].iov_len;
            }
        } else {
            for (uint64_t off = 0; off < load->length; off += chunk_bytes_) {
                load->landing.push_back(NewChunkData());
                load->iov.push_back(iovec{load->landing.back().get(),
                                          std::min<uint64_t>(chunk_bytes_, load->length - off)});
            }
            iov = load->iov;
        }
        load->direct = direct;
        IoRequest request{IoOp::kRead, load->offset, std::move(iov), nullptr};
        request.done = [this, load](Status s) { FinishLoad(load, s); };
        SendInner(std::move(request));
    }
}

void BlockCache::FinishLoad(const std::shared_ptr<Load>& load, const Status& status) {
    std::vector<std::shared_ptr<Round>> wake;
    for (size_t i = 0; i < load->pieces.size(); ++i) {
        const Piece& p = load->pieces[i];
        Shard& shard = ShardOf(p.chunk);
        std::lock_guard lock(shard.mu);
        auto it = shard.chunks.find(p.chunk);
        if (it == shard.chunks.end()) continue;  // nothing marked: it could go
        Chunk& c = *it->second;
        // Only what this load marked: other loads may be bringing the rest.
        if (status.ok() && load->marked[i].any() && c.epoch == load->epochs[i]) {
            if (load->direct) {
                c.present |= load->marked[i];
                Touch(shard, c);
            } else {
                FillLocked(shard, p, load->iov, load->epochs[i], load->marked[i]);
            }
        }
        c.loading &= ~load->marked[i];
        for (auto& w : c.waiters) wake.push_back(std::move(w));
        c.waiters.clear();
    }
    for (auto& data : load->landing) DropChunkData(std::move(data));
    load->landing.clear();
    load->iov.clear();
    if (status.ok()) {
        std::lock_guard lock(stats_mu_);
        stats_.readahead_bytes += load->length;
    } else {
        std::lock_guard lock(ra_mu_);
        readahead_.Forget(load->offset, load->offset + load->length);
    }
    for (const auto& round : wake) {
        if (round->pending.fetch_sub(1) == 1 && !round->abandoned) TryRead(round->op);
    }
}

CacheStats BlockCache::Stats() const {
    CacheStats out;
    {
        std::lock_guard lock(stats_mu_);
        out = stats_;
    }
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard->mu);
        out.cached_bytes += shard->bytes;
    }
    out.dirty_bytes = dirty_blocks_.load() * block_size_;
    out.failed_bytes = failed_blocks_.load() * block_size_;
    out.writing_bytes = copy_bytes_.load();
    return out;
}

}  // namespace lunfs
