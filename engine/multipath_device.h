// MultipathDevice: one LUN as a BlockDevice over every path that reaches it.
//
// A request is split into extents: the picker decides how many bytes each live path takes (all
// of them at once with the spread policy), and each share is cut into SCSI commands no larger
// than the LUN's maximum transfer length. The request completes when its last extent has.
//
// Failure handling, per extent:
//   - a retryable failure (lost connection, timeout, BUSY, UNIT ATTENTION, ...) re-sends the
//     extent at once on another live path, up to max_attempts; other failures complete the
//     request with their errno;
//   - an extent that overruns its deadline (a multiple of the path's recent latency) makes the
//     engine Reset() that path: every command on it completes cancelled and is re-sent elsewhere;
//   - with no live path, extents wait up to no_path_timeout for one to return, then fail with EIO;
//   - a path that comes back rejoins after a stable window: 2 s after a one-off failure,
//     doubled per failure not yet forgiven for a path that keeps failing (PathSlot::NoteDown).
//
// No ghost writes. A write re-sent on path B must never be overtaken by its first copy on path A:
//   1. extents of a failed path are re-sent only from the completion callbacks that path runs
//      after tearing its connection down with SO_LINGER 0, so no byte of the first copy can leave
//      this host afterwards (PathIo::Reset and IscsiPath's failure contract);
//   2. libiscsi's own reconnect, which would replay old commands, is always off;
//   3. writes that overlap are ordered here: a write starts only when every earlier overlapping
//      write has completed, re-sent copies included, so newer data is only sent after the old
//      data was acknowledged on some path;
//   4. a new login of path A proves nothing by itself about what the target still holds of
//      A's old session (tgtd performs no reinstatement): rule 5 does not count on it, except in
//      the timed fence, for bytes still on the wire;
//   5. bytes of the first copy may still be on their way below the socket (a queue of the link,
//      a qdisc) or held by the target: a write whose extent failed on path A keeps its range
//      fenced after it completes, so a newer overlapping write waits until the Fencer had the
//      target confirm that nothing of A's failed session can still execute (engine/fencer.h);
//      without a fencer the target can confirm, until A has logged in again (its new login
//      travelled behind whatever was still queued) or fence_timeout has passed.
// See docs/ghost-writes.md.
//
// Durable writes (kIoDurable: O_SYNC, O_DSYNC) go out with FUA where the LUN honours it; on a LUN
// with a write cache and no FUA, the request completes only after a SYNCHRONIZE CACHE sent once
// its writes completed. A LUN whose write cache is off needs neither.
//
// Threads: Submit() from any thread; a new request is split and dispatched inside the Executor (a
// oneTBB arena) on the submitting thread, retries and deferred work are posted to it;
// completions run on the paths' threads; Tick() (deadlines, probation, queued I/O) on the engine's
// own ticker thread, or by hand in tests. One mutex guards the engine's state; it is never held
// while calling into a path or a caller's callback.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/block_device.h"
#include "core/clock.h"
#include "core/range_lock.h"
#include "core/ticker.h"
#include "engine/executor.h"
#include "engine/path_slot.h"
#include "engine/picker.h"
#include "paths/fencer.h"
#include "paths/path_io.h"

namespace lunfs {

using namespace std::chrono_literals;

struct EngineOptions {
    PickerOptions picker;                  // policy and its knobs (block size is set by the engine)
    uint32_t max_extent_bytes = 1u << 20;  // also capped by the LUN's maximum transfer length
    // Writes are cut smaller: targets tuned for throughput take 256 KiB of a write unsolicited
    // (FirstBurstLength); what a command carries beyond that waits for an R2T round trip.
    uint32_t max_write_extent_bytes = 256u << 10;
    int max_attempts = 16;            // sends of one extent before its error is final
    Duration no_path_timeout = 30s;   // 0: fail at once when no path is live
    Duration deadline_floor = 1s;     // an extent's deadline: factor x recent latency,
    Duration deadline_ceiling = 30s;  //   between floor and ceiling
    double deadline_factor = 10;
    Duration busy_retry_delay = 20ms;  // before re-sending after BUSY / TASK SET FULL
    Duration stable_window = 2s;       // a returning path rejoins after this...
    Duration stable_window_max = 60s;  // ...doubled per recent failure, up to this
    Duration damping_forgive = 10s;    // each this long without a failure forgives one
    Duration fence_timeout = 3s;  // rule 5 above, timed fence: the longest a range stays fenced
    Duration fence_retry_min = 100ms;  // a fence the target did not confirm is tried again after
    Duration fence_retry_max = 2s;     //   this, doubled per failure up to this
    // SYNCHRONIZE CACHE's deadline: a target with a large cache takes as long as draining it
    // takes; a path that died meanwhile is found by its own health checks.
    Duration sync_deadline = 120s;
    Duration tick = 50ms;
    bool start_ticker = true;  // false: the owner calls Tick() (tests)
};

struct PathStats {
    std::string name;
    std::string path_state;  // the session: connecting, up, down, closed
    std::string slot_state;  // the engine's use of it: active, probation, down, removing
    Duration rejoin_in{};    // probation: how long before it rejoins if it stays up
    int priority = 0;
    SlotCounters counters;
    uint64_t in_flight_bytes = 0;
    uint32_t in_flight = 0;
    double latency_ewma_us = 0;
    double latency_p99_us = 0;
    double bytes_per_second = 0;  // what spread weighs the path by: throughput times balance
};

struct LunStats {
    std::string identity;
    uint64_t capacity = 0;
    uint32_t block_size = 0;
    std::string policy;
    uint64_t requests = 0;
    uint64_t failed_requests = 0;
    uint64_t queued_extents = 0;  // waiting for a live path or a retry delay
    std::string fence_mode;       // FenceModeName
    std::string fence_why;
    uint64_t fences = 0;          // fences the target confirmed
    uint64_t fence_failures = 0;  // fences tried and not confirmed (each retried)
    uint32_t fenced_ranges = 0;   // completed writes whose range waits for a fence now
    std::vector<PathStats> paths;
};

class MultipathDevice final : public BlockDevice {
  public:
    // `paths` must be up and reach one LUN (same identity); the first one's LunInfo is used. The
    // device owns its paths' use: it closes them when it is destroyed, after which no callback
    // of theirs reaches it.
    // `fencer`: how failed sessions are fenced (engine/fencer.h); none is the timed fence. The
    // destructor waits for a fence in progress to be answered.
    MultipathDevice(std::vector<std::shared_ptr<PathIo>> paths, EngineOptions options,
                    std::shared_ptr<Clock> clock, std::shared_ptr<Executor> executor,
                    std::shared_ptr<Fencer> fencer = nullptr);
    ~MultipathDevice() override;

    uint64_t Capacity() const override { return info_.capacity.Bytes(); }
    uint32_t BlockSize() const override { return info_.capacity.block_size; }
    uint32_t Alignment() const override { return info_.capacity.block_size; }
    void Submit(IoRequest request) override;
    // UNMAP where unmapped blocks read as zeros (LBPRZ), else WRITE SAME(16) with UNMAP.
    bool CanDiscard() const override { return discard_kind_.has_value(); }

    // Adds a path at runtime; it must reach the same LUN. Thread-safe.
    Status AddPath(std::shared_ptr<PathIo> path);
    // Stops sending to the path named `name`; it goes away once its extents completed.
    Status RemovePath(const std::string& name);

    // Deadlines, probation, queued extents, removals. Called every options.tick by the ticker.
    void Tick();

    // For shutting down in bounded time: fails the extents waiting for a path or a retry with
    // ECANCELED, resets every path that has commands in flight (they complete cancelled), and
    // from then on re-sends nothing and fails new requests with ECANCELED. Returns at once; the
    // completions follow on the paths' threads. Thread-safe.
    void Cancel();

    LunStats Stats() const;
    const LunInfo& info() const { return info_; }
    const EngineOptions& options() const { return options_; }

  private:
    struct Parent;
    struct Extent;
    class Counted;
    static constexpr size_t kNoSlot = SIZE_MAX;

    void Split(const std::shared_ptr<Parent>& parent);
    // `last`: no other extent follows from this thread right away, so this thread may send it
    // itself (PathCommand::send_from_submitter) after the paths woken for the others.
    void Send(Extent extent, bool last = true);
    // Sends each in turn, the last one marked `last`.
    void SendAll(std::vector<Extent> extents);
    void OnDone(uint64_t id, Status status);
    // OnDone's bookkeeping for a path still in use; `fence`: the failure asks for a fence.
    // Requires mu_.
    void OnDoneLocked(Extent e, Status status, std::optional<Extent>& retry,
                      std::vector<std::shared_ptr<Parent>>& finished, bool& fence);
    void OnPathState(size_t slot, PathState state);
    void OnPathStateLocked(size_t slot, PathState state, std::vector<RangeLock::Ticket>& unfenced);
    // The following require mu_.
    void AttachLocked(std::shared_ptr<PathIo> path, int priority);
    size_t PickLocked(const Extent& extent) const;
    void MarkDownLocked(size_t slot, const std::string& why, TimePoint now);
    bool AnyActiveLocked() const;
    void PromoteIfNoneActiveLocked();
    void FinishLocked(Extent& extent, Status status, std::vector<std::shared_ptr<Parent>>& done);
    // An extent of `p` on `slot` completed (`ok`) or failed at `now`; BalanceLocked feeds a
    // request that ran alone (no other split request overlapped it) and whose every planned
    // path completed its part into PathSlot::Balance.
    void NoteFinishLocked(Parent& p, size_t slot, bool ok, TimePoint now);
    void BalanceLocked(const Parent& p);

    void Complete(const std::vector<std::shared_ptr<Parent>>& parents);
    // A durable write whose writes completed on a LUN with a write cache and no FUA: sends its
    // SYNCHRONIZE CACHE instead of completing it, and says so.
    bool SyncAfter(const std::shared_ptr<Parent>& parent);
    // Whether a write whose extents failed on `fences` (slot, logins_ then), needing the fence
    // numbered `need`, still keeps its range locked at `now` (timed part: until `until`). Drops
    // the fences of paths that logged in again. Requires mu_.
    bool StillFencedLocked(std::vector<std::pair<size_t, uint64_t>>& fences, uint64_t need,
                           TimePoint until, TimePoint now) const;
    // Takes the tickets of fenced writes whose fences are gone (rule 5). Requires mu_.
    void UnfenceLocked(TimePoint now, std::vector<RangeLock::Ticket>& release);
    // Starts a fence when one is needed, none is running and no retry delay is pending.
    void MaybeFence();
    void OnFenced(uint64_t number, Status status);
    void Release(const std::vector<RangeLock::Ticket>& tickets);
    // Posts work to the executor, counted so that the destructor can wait for it.
    void Post(std::function<void()> work);

    const LunInfo info_;
    const EngineOptions options_;
    const uint32_t extent_bytes_;                    // reads
    const uint32_t write_extent_bytes_;              // writes
    const std::optional<CommandKind> discard_kind_;  // none: the LUN cannot discard
    const uint32_t discard_extent_bytes_;
    std::shared_ptr<Clock> clock_;
    std::shared_ptr<Executor> executor_;
    const std::shared_ptr<Fencer> fencer_;  // none: the timed fence
    RangeLock write_order_;

    mutable std::mutex mu_;
    std::vector<PathSlot> slots_;                     // guarded by mu_; indexes never move
    std::unordered_map<uint64_t, Extent> in_flight_;  // guarded by mu_; by extent id
    std::deque<Extent> waiting_;                      // guarded by mu_
    std::vector<uint64_t> logins_;  // guarded by mu_: times each slot's path came up, by slot
    struct Fenced;
    std::vector<Fenced> fenced_;    // guarded by mu_: completed writes whose range stays locked
    Picker picker_;                 // guarded by mu_
    uint64_t next_id_ = 1;          // guarded by mu_
    bool queueing_logged_ = false;  // guarded by mu_
    uint64_t requests_ = 0, failed_requests_ = 0;  // guarded by mu_
    // Requests split over several paths: how many so far, and how many not yet finished.
    // Guarded by mu_.
    uint64_t splits_ = 0;
    uint32_t splits_in_flight_ = 0;
    bool shutting_down_ = false;  // guarded by mu_: nothing is re-sent
    // Fences, numbered from 1 in the order they start; a write fenced after an extent failed
    // needs one that started after the failure. Guarded by mu_.
    uint64_t fence_started_ = 0, fence_done_ = 0, fence_needed_ = 0;
    uint64_t fences_confirmed_ = 0, fence_failures_ = 0;
    bool fence_running_ = false;
    TimePoint fence_started_at_{}, fence_retry_at_{};
    Duration fence_backoff_{};
    std::condition_variable fence_cv_;  // fence_running_ became false

    std::mutex posted_mu_;
    std::condition_variable posted_cv_;
    int64_t posted_ = 0;  // guarded by posted_mu_: posted work not yet finished

    std::unique_ptr<Ticker> ticker_;  // calls Tick(); none when options.start_ticker is false
};

}  // namespace lunfs
