// PathSlot: what the engine knows and measures of one path. Not thread-safe: the engine guards
// every slot with its own mutex.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>

#include "engine/clock.h"
#include "paths/path_io.h"

namespace lunfs {

enum class SlotState : uint8_t {
    kActive,     // takes new extents
    kProbation,  // the path is up again; it rejoins after a stable window
    kDown,       // the path failed; nothing new goes to it
    kRemoved,    // being removed: drains, then goes away
};

const char* SlotStateName(SlotState state);

// Latencies in power-of-two buckets of microseconds, for percentiles.
class LatencyHistogram {
  public:
    void Add(Duration latency);
    Duration Percentile(double p) const;  // upper bound of the bucket holding the p-quantile
    uint64_t count() const { return count_; }

  private:
    std::array<uint64_t, 40> buckets_{};
    uint64_t count_ = 0;
};

struct SlotCounters {
    uint64_t reads = 0, writes = 0, bytes_read = 0, bytes_written = 0;
    uint64_t syncs = 0;          // SYNCHRONIZE CACHE answered GOOD
    uint64_t retries = 0;        // extents re-sent after failing here
    uint64_t failures = 0;       // extents that failed here
    uint64_t resets = 0;         // times the engine reset the session for an overdue extent
    uint64_t path_failures = 0;  // times the path went down
};

struct PathSlot {
    std::shared_ptr<PathIo> io;
    int priority = 0;
    SlotState state = SlotState::kActive;
    TimePoint rejoin_at{};               // kProbation: when it becomes active
    Duration rejoin_window{};            // the stable window set at its last failure
    std::deque<TimePoint> recent_downs;  // for damping

    uint64_t outstanding_bytes = 0;
    uint32_t outstanding_ios = 0;
    double latency_us = 0;        // EWMA of extent latency
    double bytes_per_second = 0;  // EWMA of delivered throughput while busy; 0 until measured
    TimePoint busy_mark{};        // start of the current throughput interval
    LatencyHistogram histogram;
    SlotCounters counters;

    // An extent of `bytes` leaves for this path at `now`.
    void Sent(uint64_t bytes, TimePoint now);
    // It came back after `latency`; `measure` folds it into the estimates (successful data
    // transfers only). Throughput is the bytes completed over the time since the previous
    // completion (or since the path became busy), so extents running side by side are counted
    // together rather than each at a fraction of the path's speed.
    void Completed(uint64_t bytes, Duration latency, TimePoint now, bool measure);
    // How long an extent sent now may take before the path is suspected.
    Duration Deadline(Duration floor, Duration ceiling, double factor) const;
    // Records a failure at `now` and returns the stable window the path must show before it
    // rejoins: `base`, doubled for each other failure in the last `memory`, up to `max`.
    Duration NoteDown(TimePoint now, Duration base, Duration max, Duration memory);
};

}  // namespace lunfs
