// PathSlot: what the engine knows and measures of one path. Not thread-safe: the engine guards
// every slot with its own mutex.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>

#include "core/clock.h"
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
    uint64_t discards = 0;       // UNMAP or WRITE SAME answered GOOD
    uint64_t retries = 0;        // extents re-sent after failing here
    uint64_t failures = 0;       // extents that failed here
    uint64_t resets = 0;         // times the engine reset the session for an overdue extent
    uint64_t path_failures = 0;  // times the path went down
};

struct PathSlot {
    std::shared_ptr<PathIo> io;
    int priority = 0;
    SlotState state = SlotState::kActive;
    TimePoint rejoin_at{};     // kProbation: when it becomes active
    Duration rejoin_window{};  // the stable window set at its last failure
    // Damping (NoteDown): failures not yet forgiven, and when the last one happened.
    uint32_t strikes = 0;
    TimePoint last_down{};

    uint64_t outstanding_bytes = 0;
    uint32_t outstanding_ios = 0;
    double latency_us = 0;        // EWMA of extent latency
    double bytes_per_second = 0;  // delivered throughput while busy (see Completed); 0 until
                                  // the first window closed
    double balance = 1;      // spread weighs the path by bytes_per_second * balance (see Balance)
    TimePoint balance_at{};  // when DecayBalance last ran
    LatencyHistogram histogram;
    SlotCounters counters;

    // An extent of `bytes` leaves for this path at `now`.
    void Sent(uint64_t bytes, TimePoint now);
    // It came back after `latency`; `measure` folds it into the estimates (successful data
    // transfers only). Throughput is measured in windows of at least kRateWindow of busy time
    // (time with something outstanding): the bytes the window completed over its busy time, so
    // idle time between requests does not count against a path and extents running side by
    // side count together. Windows are smoothed, each weighing kRateWeight. A failure discards
    // the window it falls in.
    void Completed(uint64_t bytes, Duration latency, TimePoint now, bool measure);

    static constexpr Duration kRateWindow = std::chrono::milliseconds(20);
    static constexpr double kRateWeight = 0.25;

    // A request was split over several paths: `bytes[i]` went to `slots[i]`, whose last extent
    // completed `finished[i]` after the split. The request took as long as its last path.
    // Throughput measured while busy misses what happens to a path between requests: a rate
    // limiter that lets a path run ahead of its rate for a while and catch up while it waits
    // for the next request makes a slow path look fast in one request and late in the next
    // (its finish times scatter), and a path whose commands leave after the others' finishes
    // later than its speed says. Giving a path one more byte delays the request only when that
    // path is the one that finishes last, by 1/rate, so the expected request time is lowest when
    // each path finishes last in proportion to its rate, which spread makes its share of the
    // bytes.
    // Balance steers toward that point: each request moves every path's weight by
    // exp(kBalanceGain * (share - was_last)), where was_last is 1 for the path that finished
    // last (split between paths that tie) and 0 for the others, within [kBalanceMin,
    // kBalanceMax]. The steps add up to zero over a request, so the weights keep their product;
    // a request whose paths all finished at once teaches nothing and changes nothing. The bounds
    // are narrow: the weight corrects the measured throughput, it does not replace it, and a
    // path that merely drew a run of late finishes is not squeezed below spread's minimum share.
    static void Balance(std::span<PathSlot* const> slots, std::span<const uint64_t> bytes,
                        std::span<const Duration> finished);
    // Moves the weight back toward 1 for the time since the last call, by e^(-elapsed /
    // kBalanceMemory) in the log: what Balance learnt fades unless requests keep confirming
    // it, and a path that spread stopped giving shares to (its weighted share fell under the
    // minimum) is tried again. The engine calls it for every path at every split.
    void DecayBalance(TimePoint now);
    static constexpr Duration kBalanceMemory = std::chrono::seconds(2);
    static constexpr double kBalanceGain = 0.05;
    static constexpr double kBalanceMin = 2.0 / 3;
    static constexpr double kBalanceMax = 1.5;
    // How long an extent sent now may take before the path is suspected.
    Duration Deadline(Duration floor, Duration ceiling, double factor) const;
    // Records a failure at `now` and returns the stable window the path must show before it
    // rejoins: `base`, doubled for each failure before it not yet forgiven, up to `max`. Each
    // `forgive` without a failure forgives one: a one-off failure costs `base` whatever came
    // long before it, a path that keeps failing waits longer each time, and the penalty decays.
    Duration NoteDown(TimePoint now, Duration base, Duration max, Duration forgive);

  private:
    TimePoint busy_since_{};     // while outstanding_ios > 0: when the path last became busy
    Duration window_busy_{};     // busy time of the current window before busy_since_
    uint64_t window_bytes_ = 0;  // bytes completed in the current window
};

}  // namespace lunfs
