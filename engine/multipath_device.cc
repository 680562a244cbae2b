#include "engine/multipath_device.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "core/iov.h"

namespace lunfs {

// A caller's request and how far it got.
struct MultipathDevice::Parent {
    IoRequest request;
    uint32_t remaining = 0;                   // extents not yet finished; guarded by mu_
    Status error;                             // the first final failure; guarded by mu_
    std::optional<RangeLock::Ticket> ticket;  // writes: their place in write_order_
    // A durable write (kIoDurable) to a LUN with a write cache and no FUA: a SYNCHRONIZE CACHE
    // is sent once its writes have completed, and the request completes with it. Guarded by mu_.
    bool sync_after = false;
    // Writes: (slot, logins_ of that slot) for every extent that failed on a path, whose first
    // copy may still reach the target until that path has logged in again, and the number of
    // the fence that covers them all (rule 5). Guarded by mu_.
    std::vector<std::pair<size_t, uint64_t>> fences;
    uint64_t fence_need = 0;
    // Reads and writes split over several paths: their number among such requests (0 for
    // others), when the split happened and, per path of the split, when its last extent
    // completed (for PathSlot::Balance). Only a request that ran alone says how its paths
    // compare: with others in flight, backlogs set the shares and the finish times. `finishes`
    // stays empty when another split request was in flight at the split, is ignored when
    // another one was split before this one finished, and is emptied when an extent fails or
    // completes elsewhere than planned. Guarded by mu_.
    uint64_t split_seq = 0;
    TimePoint split_at{};
    struct Finish {
        size_t slot;
        uint64_t bytes;
        TimePoint at;
    };
    std::vector<Finish> finishes;
};

// A completed write whose range stays locked until its fences are gone (rule 5).
struct MultipathDevice::Fenced {
    RangeLock::Ticket ticket;
    std::vector<std::pair<size_t, uint64_t>> fences;
    uint64_t need;
    TimePoint until;
};

// One SCSI command's worth of a request.
struct MultipathDevice::Extent {
    uint64_t id = 0;
    std::shared_ptr<Parent> parent;
    CommandKind kind = CommandKind::kRead;
    uint64_t offset = 0;         // bytes into the device
    uint64_t length = 0;         // bytes (0 for SYNCHRONIZE CACHE)
    uint64_t parent_offset = 0;  // bytes into the request's buffers
    size_t slot = kNoSlot;       // where it is (or last was) sent
    int attempts = 0;
    uint64_t tried = 0;  // bit i: failed on slot i (first 64 slots)
    TimePoint sent_at{};
    TimePoint deadline{};
    TimePoint queued_at{};   // first time it found no live path
    TimePoint not_before{};  // waiting: not to be sent before this
};

namespace {

uint32_t ExtentBytes(const LunInfo& info, uint32_t configured) {
    const uint32_t bs = info.capacity.block_size;
    uint64_t limit = std::max<uint64_t>(configured, bs);
    if (info.limits.max_transfer_blocks != 0) {
        limit = std::min<uint64_t>(limit, uint64_t{info.limits.max_transfer_blocks} * bs);
    }
    return static_cast<uint32_t>(limit - limit % bs);
}

PickerOptions WithBlockSize(PickerOptions o, uint32_t bs) {
    o.block_size = bs;
    return o;
}

uint64_t Bit(size_t slot) { return slot < 64 ? uint64_t{1} << slot : 0; }

bool IsData(CommandKind kind) { return kind == CommandKind::kRead || kind == CommandKind::kWrite; }

// Commands that change the LUN's blocks: a first copy of one that reaches the LUN late can undo
// newer data, so each is fenced like a write (rule 5).
bool ChangesBlocks(CommandKind kind) {
    return kind == CommandKind::kWrite || kind == CommandKind::kUnmap ||
           kind == CommandKind::kWriteSameUnmap;
}

// Bytes an extent puts on the wire (what a path's load and throughput count).
uint64_t WireBytes(CommandKind kind, uint64_t length) { return IsData(kind) ? length : 0; }

// How a LUN discards so that the blocks read as zeros afterwards: UNMAP where unmapped blocks read
// as zeros, else WRITE SAME(16) of zeros with the UNMAP bit; none without either.
std::optional<CommandKind> DiscardKind(const LunInfo& info) {
    const Provisioning& p = info.provisioning;
    if (!info.capacity.thin) return std::nullopt;
    if (p.unmap && info.limits.max_unmap_blocks > 0 &&
        (p.unmapped_zero || info.capacity.unmapped_zero)) {
        return CommandKind::kUnmap;
    }
    if (p.write_same_unmap) return CommandKind::kWriteSameUnmap;
    return std::nullopt;
}

// The largest range one discard command covers: the LUN's limit, and 1 GiB at most.
uint32_t DiscardBytes(const LunInfo& info, std::optional<CommandKind> kind) {
    const uint64_t bs = info.capacity.block_size;
    uint64_t blocks = (1ull << 30) / bs;
    if (kind == CommandKind::kUnmap) {
        blocks = std::min<uint64_t>(blocks, info.limits.max_unmap_blocks);
    } else if (kind == CommandKind::kWriteSameUnmap && info.limits.max_write_same_blocks > 0) {
        blocks = std::min<uint64_t>(blocks, info.limits.max_write_same_blocks);
    }
    return static_cast<uint32_t>(std::max<uint64_t>(blocks, 1) * bs);
}

}  // namespace

MultipathDevice::MultipathDevice(std::vector<std::shared_ptr<PathIo>> paths, EngineOptions options,
                                 std::shared_ptr<Clock> clock, std::shared_ptr<Executor> executor,
                                 std::shared_ptr<Fencer> fencer)
    : info_(paths.front()->info()),
      options_(options),
      extent_bytes_(ExtentBytes(info_, options.max_extent_bytes)),
      write_extent_bytes_(
          ExtentBytes(info_, std::min(options.max_extent_bytes, options.max_write_extent_bytes))),
      discard_kind_(DiscardKind(info_)),
      discard_extent_bytes_(DiscardBytes(info_, discard_kind_)),
      clock_(std::move(clock)),
      executor_(std::move(executor)),
      fencer_(std::move(fencer)),
      picker_(WithBlockSize(options.picker, info_.capacity.block_size)) {
    {
        std::lock_guard lock(mu_);
        for (size_t i = 0; i < paths.size(); ++i) AttachLocked(paths[i], static_cast<int>(i));
    }
    if (options_.start_ticker)
        ticker_ = std::make_unique<Ticker>(options_.tick, [this] { Tick(); });
}

MultipathDevice::~MultipathDevice() {
    ticker_.reset();
    std::vector<std::shared_ptr<PathIo>> paths;
    if (fencer_) fencer_->Cancel();  // nothing is written after this: no fence is needed
    {
        std::unique_lock lock(mu_);
        shutting_down_ = true;
        // Its answer calls back into this object.
        fence_cv_.wait(lock, [&] { return !fence_running_; });
        for (PathSlot& slot : slots_) {
            if (!slot.io) continue;
            slot.io->SetStateListener(nullptr);
            paths.push_back(slot.io);
        }
    }
    {
        std::lock_guard lock(mu_);
        for (PathSlot& slot : slots_) slot.io.reset();
    }
    // Closing a path completes whatever it still held (cancelled, not re-sent) while this object
    // is alive, on this thread or the path's: never with mu_ held, which those completions take.
    paths.clear();
    std::unique_lock lock(posted_mu_);
    posted_cv_.wait(lock, [&] { return posted_ == 0; });
}

// Work the destructor waits for, counted from its construction to its end however it ends.
class MultipathDevice::Counted {
  public:
    explicit Counted(MultipathDevice* self) : self_(self) {
        std::lock_guard lock(self_->posted_mu_);
        ++self_->posted_;
    }
    Counted(Counted&& other) noexcept : self_(std::exchange(other.self_, nullptr)) {}
    Counted(const Counted&) = delete;
    Counted& operator=(const Counted&) = delete;
    Counted& operator=(Counted&&) = delete;
    ~Counted() {
        if (!self_) return;
        std::lock_guard lock(self_->posted_mu_);
        if (--self_->posted_ == 0) self_->posted_cv_.notify_all();
    }

  private:
    MultipathDevice* self_;
};

void MultipathDevice::Post(std::function<void()> work) {
    // Counted down however the work ends: the executor logs what it throws.
    executor_->Post(
        [counted = std::make_shared<Counted>(this), work = std::move(work)] { work(); });
}

void MultipathDevice::AttachLocked(std::shared_ptr<PathIo> path, int priority) {
    const size_t index = slots_.size();
    logins_.push_back(0);
    PathSlot& slot = slots_.emplace_back();
    slot.io = std::move(path);
    slot.priority = priority;
    slot.state = slot.io->state() == PathState::kUp ? SlotState::kActive : SlotState::kDown;
    slot.io->SetStateListener([this, index](PathState s) { OnPathState(index, s); });
}

Status MultipathDevice::AddPath(std::shared_ptr<PathIo> path) {
    const LunInfo& other = path->info();
    if (other.identity != info_.identity) {
        return Status::Fail(EINVAL, fmt::format("{} reaches LUN {}, not {}", path->name(),
                                                other.identity, info_.identity));
    }
    if (other.capacity.block_size != info_.capacity.block_size ||
        other.capacity.blocks != info_.capacity.blocks) {
        return Status::Fail(
            EINVAL, fmt::format("{} shows a different capacity or block size", path->name()));
    }
    std::lock_guard lock(mu_);
    for (const PathSlot& s : slots_) {
        if (s.io && s.io->name() == path->name() && s.state != SlotState::kRemoved) {
            return Status::Fail(EEXIST, fmt::format("{} is already a path", path->name()));
        }
    }
    spdlog::info("{}: path added", path->name());
    AttachLocked(std::move(path), static_cast<int>(slots_.size()));
    return Status::Ok();
}

Status MultipathDevice::RemovePath(const std::string& name) {
    std::lock_guard lock(mu_);
    size_t found = kNoSlot, others = 0;
    for (size_t i = 0; i < slots_.size(); ++i) {
        if (!slots_[i].io || slots_[i].state == SlotState::kRemoved) continue;
        if (slots_[i].io->name() == name) {
            found = i;
        } else {
            ++others;
        }
    }
    if (found == kNoSlot) return Status::Fail(ENOENT, fmt::format("{} is not a path", name));
    if (others == 0) return Status::Fail(EBUSY, fmt::format("{} is the last path", name));
    slots_[found].state = SlotState::kRemoved;
    spdlog::info("{}: path removed; draining", name);
    return Status::Ok();
}

void MultipathDevice::Submit(IoRequest request) {
    if (CompleteWithoutIo(*this, request)) return;
    if (request.op == IoOp::kDiscard && !discard_kind_) {
        request.done(Status::Fail(EOPNOTSUPP,
                                  "the LUN offers no way to discard blocks that "
                                  "reads them back as zeros"));
        return;
    }
    auto parent = std::make_shared<Parent>();
    const IoOp op = request.op;
    const uint64_t begin = request.offset;
    const uint64_t end = begin + request.Length();
    parent->request = std::move(request);
    if (op == IoOp::kWrite || op == IoOp::kDiscard) {
        // Granted at once, the write is split here like a read; granted later, when an earlier
        // overlapping write completes, it is split on the executor's thread, not the path's.
        const std::thread::id submitter = std::this_thread::get_id();
        write_order_.Acquire(begin, end, [this, parent, submitter](RangeLock::Ticket ticket) {
            parent->ticket = ticket;
            if (std::this_thread::get_id() == submitter) {
                executor_->Run([this, parent] { Split(parent); });
            } else {
                Post([this, parent] { Split(parent); });
            }
        });
        return;
    }
    executor_->Run([this, parent = std::move(parent)] { Split(parent); });
}

void MultipathDevice::Split(const std::shared_ptr<Parent>& parent) {
    const IoRequest& r = parent->request;
    std::vector<Extent> extents;
    {
        std::lock_guard lock(mu_);
        ++requests_;
        if (r.op == IoOp::kFlush) {
            Extent e;
            e.kind = CommandKind::kSyncCache;
            extents.push_back(std::move(e));
        } else if (r.op == IoOp::kDiscard) {
            // Nothing to spread: each command goes to the least busy path when it is sent.
            for (uint64_t done = 0; done < r.Length(); done += discard_extent_bytes_) {
                Extent e;
                e.kind = *discard_kind_;
                e.offset = r.offset + done;
                e.length = std::min<uint64_t>(discard_extent_bytes_, r.Length() - done);
                extents.push_back(std::move(e));
            }
        } else {
            const uint64_t length = r.Length();
            std::vector<PathLoad> loads;
            const TimePoint now = clock_->Now();
            for (size_t i = 0; i < slots_.size(); ++i) {
                PathSlot& s = slots_[i];
                if (s.state != SlotState::kActive) continue;
                s.DecayBalance(now);
                loads.push_back({i,
                                 (s.bytes_per_second > 0 ? s.bytes_per_second : 100e6) * s.balance,
                                 s.outstanding_bytes, s.outstanding_ios, s.priority});
            }
            std::vector<Share> shares = picker_.Split(length, loads);
            if (shares.empty()) shares.push_back({kNoSlot, length});  // waits for a path
            if (shares.size() > 1) {
                parent->split_seq = ++splits_;
                parent->split_at = now;
                if (splits_in_flight_++ == 0) {
                    for (const Share& share : shares)
                        parent->finishes.push_back({share.path, share.bytes, TimePoint{}});
                }
            }
            const uint64_t cut = r.op == IoOp::kRead ? extent_bytes_ : write_extent_bytes_;
            parent->sync_after = r.op == IoOp::kWrite && (r.flags & kIoDurable) != 0 &&
                                 !info_.fua && info_.write_cache;
            uint64_t at = 0;
            for (const Share& share : shares) {
                for (uint64_t done = 0; done < share.bytes; done += cut) {
                    Extent e;
                    e.kind = r.op == IoOp::kRead ? CommandKind::kRead : CommandKind::kWrite;
                    e.offset = r.offset + at + done;
                    e.parent_offset = at + done;
                    e.length = std::min<uint64_t>(cut, share.bytes - done);
                    e.slot = share.path;
                    extents.push_back(std::move(e));
                }
                at += share.bytes;
            }
        }
        for (Extent& e : extents) {
            e.id = next_id_++;
            e.parent = parent;
        }
        parent->remaining = static_cast<uint32_t>(extents.size());
    }
    SendAll(std::move(extents));
}

void MultipathDevice::SendAll(std::vector<Extent> extents) {
    for (size_t i = 0; i < extents.size(); ++i) {
        Send(std::move(extents[i]), i + 1 == extents.size());
    }
}

size_t MultipathDevice::PickLocked(const Extent& extent) const {
    // A retry prefers an active path it has not failed on, the least loaded first.
    size_t best = kNoSlot;
    for (int pass = 0; pass < 2 && best == kNoSlot; ++pass) {
        for (size_t i = 0; i < slots_.size(); ++i) {
            const PathSlot& s = slots_[i];
            if (s.state != SlotState::kActive) continue;
            if (pass == 0 && (extent.tried & Bit(i))) continue;
            if (best == kNoSlot || s.outstanding_bytes < slots_[best].outstanding_bytes) best = i;
        }
    }
    return best;
}

bool MultipathDevice::AnyActiveLocked() const {
    return std::any_of(slots_.begin(), slots_.end(),
                       [](const PathSlot& s) { return s.state == SlotState::kActive; });
}

void MultipathDevice::Send(Extent e, bool last) {
    std::vector<std::shared_ptr<Parent>> finished;
    std::shared_ptr<PathIo> io;
    PathCommand command;
    {
        std::lock_guard lock(mu_);
        const TimePoint now = clock_->Now();
        if (e.slot == kNoSlot || slots_[e.slot].state != SlotState::kActive) e.slot = PickLocked(e);
        if (shutting_down_) {
            FinishLocked(e, Status::Fail(ECANCELED, "the LUN is being closed"), finished);
        } else if (e.slot == kNoSlot) {
            if (options_.no_path_timeout == Duration::zero()) {
                // Retryable: a layer above (a write-back cache) may send it again later.
                FinishLocked(e, Status::Retryable(EIO, "no live path to the LUN", Scope::kLun),
                             finished);
            } else {
                if (e.queued_at == TimePoint{}) e.queued_at = now;
                if (!queueing_logged_) {
                    spdlog::warn("LUN {}: no live path; queueing I/O for up to {} ms",
                                 info_.identity,
                                 std::chrono::duration_cast<std::chrono::milliseconds>(
                                     options_.no_path_timeout)
                                     .count());
                    queueing_logged_ = true;
                }
                waiting_.push_back(std::move(e));
            }
        } else {
            PathSlot& slot = slots_[e.slot];
            slot.Sent(WireBytes(e.kind, e.length), now);
            e.sent_at = now;
            // SYNCHRONIZE CACHE takes as long as the target's cache takes to drain, which no
            // latency of the path predicts: it gets a deadline of its own.
            e.deadline = e.kind == CommandKind::kSyncCache
                             ? now + options_.sync_deadline
                             : now + slot.Deadline(options_.deadline_floor,
                                                   std::max(options_.deadline_floor,
                                                            options_.deadline_ceiling),
                                                   options_.deadline_factor);
            ++e.attempts;
            e.queued_at = TimePoint{};  // a later wait for a path counts from its own start
            const uint32_t bs = info_.capacity.block_size;
            command.kind = e.kind;
            command.lba = e.offset / bs;
            command.blocks = static_cast<uint32_t>(e.length / bs);
            if (IsData(e.kind)) {
                command.iov = SliceIov(e.parent->request.iov, e.parent_offset, e.length);
            }
            const uint64_t id = e.id;
            command.done = [this, id](Status s) { OnDone(id, std::move(s)); };
            command.send_from_submitter = last;
            command.fua = e.kind == CommandKind::kWrite && info_.fua &&
                          (e.parent->request.flags & kIoDurable) != 0;
            io = slot.io;
            in_flight_.emplace(id, std::move(e));
        }
    }
    if (io) io->Submit(std::move(command));
    Complete(finished);
}

void MultipathDevice::OnDone(uint64_t id, Status status) {
    std::vector<std::shared_ptr<Parent>> finished;
    std::optional<Extent> retry;
    bool fence = false;
    {
        std::lock_guard lock(mu_);
        auto it = in_flight_.find(id);
        if (it == in_flight_.end()) return;
        Extent e = std::move(it->second);
        in_flight_.erase(it);
        if (shutting_down_ && !slots_[e.slot].io) {
            // Its path is being closed by the destructor: nothing is counted or re-sent.
            FinishLocked(e, std::move(status), finished);
        } else {
            OnDoneLocked(std::move(e), std::move(status), retry, finished, fence);
        }
    }
    if (retry) {
        Post([this, e = std::make_shared<Extent>(std::move(*retry))]() mutable {
            Send(std::move(*e));
        });
    }
    Complete(finished);
    if (fence) MaybeFence();  // only a failure asks for one: completions stay off the lock
}

void MultipathDevice::OnDoneLocked(Extent e, Status status, std::optional<Extent>& retry,
                                   std::vector<std::shared_ptr<Parent>>& finished, bool& fence) {
    const TimePoint now = clock_->Now();
    PathSlot& slot = slots_[e.slot];
    slot.Completed(WireBytes(e.kind, e.length), now - e.sent_at, now,
                   status.ok() && IsData(e.kind));
    NoteFinishLocked(*e.parent, e.slot, status.ok(), now);
    if (status.ok()) {
        if (e.kind == CommandKind::kRead) {
            slot.counters.reads++;
            slot.counters.bytes_read += e.length;
        } else if (e.kind == CommandKind::kWrite) {
            slot.counters.writes++;
            slot.counters.bytes_written += e.length;
        } else if (e.kind == CommandKind::kUnmap || e.kind == CommandKind::kWriteSameUnmap) {
            slot.counters.discards++;
        } else if (e.kind == CommandKind::kSyncCache) {
            slot.counters.syncs++;
        }
        FinishLocked(e, std::move(status), finished);
    } else {
        slot.counters.failures++;
        if (status.scope() == Scope::kPath) {
            MarkDownLocked(e.slot, status.message(), now);
            if (ChangesBlocks(e.kind)) {
                e.parent->fences.emplace_back(e.slot, logins_[e.slot]);
                // The session has been torn down before this callback (rule 1): any fence that
                // starts from now on covers it.
                e.parent->fence_need = fence_started_ + 1;
                fence_needed_ = std::max(fence_needed_, e.parent->fence_need);
                fence = fencer_ != nullptr;
            }
        }
        if (status.retryable() && e.attempts < options_.max_attempts && !shutting_down_) {
            slot.counters.retries++;
            spdlog::debug("{}: retrying extent at {}: {}", slot.io->name(), e.offset,
                          status.message());
            if (status.scope() == Scope::kPath) e.tried |= Bit(e.slot);
            if (status.scope() == Scope::kExtent) {
                e.not_before = now + options_.busy_retry_delay * e.attempts;
                e.slot = kNoSlot;
                waiting_.push_back(std::move(e));
            } else {
                e.slot = kNoSlot;
                retry = std::move(e);
            }
        } else {
            FinishLocked(e, std::move(status), finished);
        }
    }
}

void MultipathDevice::FinishLocked(Extent& e, Status status,
                                   std::vector<std::shared_ptr<Parent>>& done) {
    Parent& p = *e.parent;
    if (!status.ok() && p.error.ok()) p.error = std::move(status);
    if (--p.remaining == 0) {
        if (!p.error.ok()) ++failed_requests_;
        if (p.split_seq != 0) {
            --splits_in_flight_;
            if (p.error.ok() && p.split_seq == splits_ && !p.finishes.empty()) BalanceLocked(p);
            p.split_seq = 0;  // a SYNCHRONIZE CACHE sent after it finishes once more
        }
        done.push_back(e.parent);
    }
}

void MultipathDevice::NoteFinishLocked(Parent& p, size_t slot, bool ok, TimePoint now) {
    if (p.finishes.empty()) return;
    auto it = std::find_if(p.finishes.begin(), p.finishes.end(),
                           [&](const auto& f) { return f.slot == slot; });
    if (!ok || it == p.finishes.end()) {
        p.finishes.clear();
        return;
    }
    it->at = std::max(it->at, now);
}

void MultipathDevice::BalanceLocked(const Parent& p) {
    std::vector<PathSlot*> slots;
    std::vector<uint64_t> bytes;
    std::vector<Duration> finished;
    for (const auto& f : p.finishes) {
        if (f.at == TimePoint{} || slots_[f.slot].state != SlotState::kActive) return;
        slots.push_back(&slots_[f.slot]);
        bytes.push_back(f.bytes);
        finished.push_back(f.at - p.split_at);
    }
    PathSlot::Balance(slots, bytes, finished);
}

void MultipathDevice::Complete(const std::vector<std::shared_ptr<Parent>>& parents) {
    for (const auto& p : parents) {
        if (SyncAfter(p)) continue;
        if (p->ticket) {
            bool fenced = false;
            {
                std::lock_guard lock(mu_);
                const TimePoint now = clock_->Now();
                const TimePoint until = now + options_.fence_timeout;
                if (!p->fences.empty() && !shutting_down_ &&
                    StillFencedLocked(p->fences, p->fence_need, until, now)) {
                    fenced_.push_back({*p->ticket, p->fences, p->fence_need, until});
                    fenced = true;
                }
            }
            if (!fenced) write_order_.Release(*p->ticket);
        }
        if (!p->error.ok())
            spdlog::debug("{} at {} failed: {}", IoOpName(p->request.op), p->request.offset,
                          p->error.ToString());
        IoCallback done = std::move(p->request.done);
        done(std::move(p->error));
    }
}

bool MultipathDevice::SyncAfter(const std::shared_ptr<Parent>& p) {
    Extent e;
    {
        std::lock_guard lock(mu_);
        if (!p->sync_after || !p->error.ok()) return false;
        p->sync_after = false;
        e.kind = CommandKind::kSyncCache;
        e.id = next_id_++;
        e.parent = p;
        p->remaining = 1;
    }
    Send(std::move(e));
    return true;
}

bool MultipathDevice::StillFencedLocked(std::vector<std::pair<size_t, uint64_t>>& fences,
                                        uint64_t need, TimePoint until, TimePoint now) const {
    std::erase_if(fences, [&](const auto& x) { return logins_[x.first] > x.second; });
    const bool timed_over = fences.empty() || now >= until;
    const bool confirmed = need <= fence_done_;
    switch (fencer_ ? fencer_->mode() : FenceMode::kTimed) {
        case FenceMode::kReservation:
            return !confirmed;
        case FenceMode::kReset:
            return !(confirmed && timed_over);
        case FenceMode::kTimed:
            break;
    }
    return !timed_over;
}

void MultipathDevice::UnfenceLocked(TimePoint now, std::vector<RangeLock::Ticket>& release) {
    std::erase_if(fenced_, [&](Fenced& f) {
        if (StillFencedLocked(f.fences, f.need, f.until, now)) return false;
        release.push_back(f.ticket);
        return true;
    });
}

void MultipathDevice::MaybeFence() {
    if (!fencer_) return;
    uint64_t number;
    {
        std::lock_guard lock(mu_);
        const TimePoint now = clock_->Now();
        if (fence_running_ || shutting_down_ || fence_needed_ <= fence_done_ ||
            now < fence_retry_at_ || fencer_->mode() == FenceMode::kTimed) {
            return;
        }
        fence_running_ = true;
        number = ++fence_started_;
        fence_started_at_ = now;
    }
    fencer_->Fence([this, number](Status s) { OnFenced(number, std::move(s)); });
}

void MultipathDevice::OnFenced(uint64_t number, Status status) {
    // Counted like posted work: the destructor, released by fence_running_ below, still waits
    // for the rest of this call.
    const Counted counted(this);
    std::vector<RangeLock::Ticket> unfenced;
    {
        std::lock_guard lock(mu_);
        const TimePoint now = clock_->Now();
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(now - fence_started_at_).count();
        if (status.ok()) {
            fence_done_ = number;
            ++fences_confirmed_;
            fence_backoff_ = Duration{};
            spdlog::info("fence {} confirmed by the target in {} ms ({})", number, ms,
                         FenceModeName(fencer_->mode()));
        } else {
            ++fence_failures_;
            fence_backoff_ =
                std::clamp(fence_backoff_ * 2, options_.fence_retry_min, options_.fence_retry_max);
            fence_retry_at_ = now + fence_backoff_;
            spdlog::warn(
                "fence {} not confirmed after {} ms: {}; newer writes to its bytes wait, "
                "trying again in {} ms",
                number, ms, status.message(),
                std::chrono::duration_cast<std::chrono::milliseconds>(fence_backoff_).count());
        }
        UnfenceLocked(now, unfenced);
        fence_running_ = false;
        fence_cv_.notify_all();
    }
    Release(unfenced);
    if (status.ok()) MaybeFence();  // a failure is retried by Tick once its delay is over
}

void MultipathDevice::Release(const std::vector<RangeLock::Ticket>& tickets) {
    for (RangeLock::Ticket t : tickets) write_order_.Release(t);
}

void MultipathDevice::MarkDownLocked(size_t index, const std::string& why, TimePoint now) {
    PathSlot& slot = slots_[index];
    if (slot.state != SlotState::kActive && slot.state != SlotState::kProbation) return;
    slot.state = SlotState::kDown;
    slot.rejoin_window = slot.NoteDown(now, options_.stable_window, options_.stable_window_max,
                                       options_.damping_forgive);
    spdlog::warn("{}: path failed: {}", slot.io->name(), why);
    PromoteIfNoneActiveLocked();
}

void MultipathDevice::PromoteIfNoneActiveLocked() {
    if (AnyActiveLocked()) return;
    for (PathSlot& s : slots_) {
        if (s.state == SlotState::kProbation && s.io->state() == PathState::kUp) {
            s.state = SlotState::kActive;
            spdlog::info("{}: no other path is live; in use again before its window ended",
                         s.io->name());
        }
    }
}

void MultipathDevice::OnPathState(size_t index, PathState state) {
    std::vector<RangeLock::Ticket> unfenced;
    {
        std::lock_guard lock(mu_);
        OnPathStateLocked(index, state, unfenced);
    }
    Release(unfenced);
}

void MultipathDevice::OnPathStateLocked(size_t index, PathState state,
                                        std::vector<RangeLock::Ticket>& unfenced) {
    PathSlot& slot = slots_[index];
    const TimePoint now = clock_->Now();
    if (state != PathState::kUp) {
        MarkDownLocked(index, fmt::format("session {}", PathStateName(state)), now);
        return;
    }
    // Whatever the old session still had on its way arrived before this login did.
    ++logins_[index];
    UnfenceLocked(now, unfenced);
    if (slot.state != SlotState::kDown) return;
    if (!AnyActiveLocked()) {
        // Nothing else can carry I/O: use it at once rather than wait out a stable window.
        slot.state = SlotState::kActive;
        queueing_logged_ = false;
        spdlog::info("{}: path back; rejoined at once, no other path is live", slot.io->name());
        return;
    }
    const Duration window = slot.rejoin_window;
    slot.rejoin_at = now + window;
    slot.state = SlotState::kProbation;
    spdlog::info("{}: path back; rejoins after {} ms if it stays up", slot.io->name(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(window).count());
}

void MultipathDevice::Tick() {
    std::vector<std::shared_ptr<PathIo>> reset, drop;
    std::vector<RangeLock::Ticket> unfenced;
    std::vector<Extent> send;
    std::vector<std::shared_ptr<Parent>> finished;
    {
        std::lock_guard lock(mu_);
        const TimePoint now = clock_->Now();
        // Overdue extents: the path is suspect. Resetting it completes all its commands
        // cancelled, and they are re-sent elsewhere from those completions.
        for (auto& [id, e] : in_flight_) {
            if (now <= e.deadline) continue;
            PathSlot& slot = slots_[e.slot];
            e.deadline = now + options_.deadline_ceiling;  // looked at again if still here
            if (std::find(reset.begin(), reset.end(), slot.io) != reset.end()) continue;
            spdlog::warn(
                "{}: {} of {} bytes at {} overdue after {} ms; resetting the session",
                slot.io->name(), CommandKindName(e.kind), e.length, e.offset,
                std::chrono::duration_cast<std::chrono::milliseconds>(now - e.sent_at).count());
            slot.counters.resets++;
            MarkDownLocked(e.slot, "command overdue", now);
            reset.push_back(slot.io);
        }
        for (PathSlot& slot : slots_) {
            if (slot.state == SlotState::kProbation && now >= slot.rejoin_at) {
                if (slot.io->state() == PathState::kUp) {
                    slot.state = SlotState::kActive;
                    spdlog::info("{}: path rejoined", slot.io->name());
                } else {
                    slot.state = SlotState::kDown;
                }
            }
            if (slot.state == SlotState::kRemoved && slot.io && slot.outstanding_ios == 0) {
                slot.io->SetStateListener(nullptr);
                drop.push_back(std::move(slot.io));
            }
        }
        const bool live = AnyActiveLocked();
        if (live) queueing_logged_ = false;
        std::deque<Extent> still;
        for (Extent& e : waiting_) {
            if (!live && e.queued_at == TimePoint{}) e.queued_at = now;
            if (live && now >= e.not_before) {
                send.push_back(std::move(e));
            } else if (!live && e.queued_at != TimePoint{} &&
                       now - e.queued_at >= options_.no_path_timeout) {
                FinishLocked(e,
                             Status::Retryable(
                                 EIO,
                                 fmt::format("no live path for {} ms",
                                             std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 options_.no_path_timeout)
                                                 .count()),
                                 Scope::kLun),
                             finished);
            } else {
                still.push_back(std::move(e));
            }
        }
        waiting_.swap(still);
        UnfenceLocked(now, unfenced);
    }
    Release(unfenced);
    for (auto& io : reset) io->Reset("a command overran its deadline");
    SendAll(std::move(send));
    Complete(finished);
    MaybeFence();
    drop.clear();  // closes removed paths, here on the ticker thread, never on a path's own
}

void MultipathDevice::Cancel() {
    std::vector<std::shared_ptr<PathIo>> reset;
    std::vector<std::shared_ptr<Parent>> finished;
    {
        std::lock_guard lock(mu_);
        shutting_down_ = true;
        for (Extent& e : waiting_) {
            FinishLocked(e, Status::Fail(ECANCELED, "the LUN is being closed"), finished);
        }
        waiting_.clear();
        for (const PathSlot& s : slots_) {
            if (s.io && s.outstanding_ios > 0) reset.push_back(s.io);
        }
    }
    for (auto& io : reset) io->Reset("the LUN is being closed");
    if (fencer_) fencer_->Cancel();
    Complete(finished);
}

LunStats MultipathDevice::Stats() const {
    std::lock_guard lock(mu_);
    LunStats out;
    out.identity = info_.identity;
    out.capacity = Capacity();
    out.block_size = BlockSize();
    out.policy = PolicyName(options_.picker.policy);
    out.requests = requests_;
    out.failed_requests = failed_requests_;
    out.queued_extents = waiting_.size();
    out.fence_mode = FenceModeName(fencer_ ? fencer_->mode() : FenceMode::kTimed);
    out.fence_why = fencer_ ? fencer_->why() : "no fencer";
    out.fences = fences_confirmed_;
    out.fence_failures = fence_failures_;
    out.fenced_ranges = static_cast<uint32_t>(fenced_.size());
    for (const PathSlot& s : slots_) {
        if (!s.io) continue;
        PathStats p;
        p.name = s.io->name();
        p.path_state = PathStateName(s.io->state());
        p.slot_state = SlotStateName(s.state);
        if (s.state == SlotState::kProbation) {
            p.rejoin_in = std::max(Duration::zero(), s.rejoin_at - clock_->Now());
        }
        p.priority = s.priority;
        p.counters = s.counters;
        p.in_flight_bytes = s.outstanding_bytes;
        p.in_flight = s.outstanding_ios;
        p.latency_ewma_us = s.latency_us;
        p.latency_p99_us = static_cast<double>(
            std::chrono::duration_cast<std::chrono::microseconds>(s.histogram.Percentile(0.99))
                .count());
        p.bytes_per_second = s.bytes_per_second * s.balance;
        out.paths.push_back(std::move(p));
    }
    return out;
}

}  // namespace lunfs
