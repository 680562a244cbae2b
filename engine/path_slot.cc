#include "engine/path_slot.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>

namespace lunfs {

namespace {
constexpr double kEwmaWeight = 0.2;  // latency: weight of the newest sample
}  // namespace

const char* SlotStateName(SlotState state) {
    switch (state) {
        case SlotState::kActive:
            return "active";
        case SlotState::kProbation:
            return "probation";
        case SlotState::kDown:
            return "down";
        case SlotState::kRemoved:
            return "removing";
    }
    return "?";
}

void LatencyHistogram::Add(Duration latency) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(latency).count();
    const size_t bucket = std::min<size_t>(
        std::bit_width(static_cast<uint64_t>(std::max<int64_t>(us, 0))), buckets_.size() - 1);
    ++buckets_[bucket];
    ++count_;
}

Duration LatencyHistogram::Percentile(double p) const {
    if (count_ == 0) return Duration::zero();
    const auto rank = static_cast<uint64_t>(std::ceil(p * static_cast<double>(count_)));
    uint64_t seen = 0;
    for (size_t b = 0; b < buckets_.size(); ++b) {
        seen += buckets_[b];
        if (seen >= rank) return std::chrono::microseconds(uint64_t{1} << b);
    }
    return std::chrono::microseconds(uint64_t{1} << (buckets_.size() - 1));
}

void PathSlot::Sent(uint64_t bytes, TimePoint now) {
    if (outstanding_ios == 0) busy_since_ = now;
    outstanding_bytes += bytes;
    outstanding_ios += 1;
}

void PathSlot::Completed(uint64_t bytes, Duration latency, TimePoint now, bool measure) {
    outstanding_bytes -= bytes;
    outstanding_ios -= 1;
    window_busy_ += now - busy_since_;
    busy_since_ = now;
    if (!measure) {
        window_busy_ = Duration::zero();
        window_bytes_ = 0;
        return;
    }
    histogram.Add(latency);
    const double us = std::max<double>(
        1.0, static_cast<double>(
                 std::chrono::duration_cast<std::chrono::microseconds>(latency).count()));
    latency_us = latency_us == 0 ? us : (1 - kEwmaWeight) * latency_us + kEwmaWeight * us;
    window_bytes_ += bytes;
    if (window_busy_ < kRateWindow || window_bytes_ == 0) return;
    const double seconds = std::chrono::duration<double>(window_busy_).count();
    const double rate = static_cast<double>(window_bytes_) / seconds;
    bytes_per_second =
        bytes_per_second == 0 ? rate : (1 - kRateWeight) * bytes_per_second + kRateWeight * rate;
    window_busy_ = Duration::zero();
    window_bytes_ = 0;
}

void PathSlot::Balance(std::span<PathSlot* const> slots, std::span<const uint64_t> bytes,
                       std::span<const Duration> finished) {
    const size_t n = slots.size();
    if (n < 2 || bytes.size() != n || finished.size() != n) return;
    const auto [first, last] = std::minmax_element(finished.begin(), finished.end());
    if (*first == *last) return;  // all together: nothing to learn
    const double lasts = static_cast<double>(std::count(finished.begin(), finished.end(), *last));
    const double total = static_cast<double>(std::accumulate(bytes.begin(), bytes.end(), 0.0));
    for (size_t i = 0; i < n; ++i) {
        const double share = static_cast<double>(bytes[i]) / total;
        const double was_last = finished[i] == *last ? 1.0 / lasts : 0.0;
        PathSlot& s = *slots[i];
        s.balance = std::clamp(s.balance * std::exp(kBalanceGain * (share - was_last)), kBalanceMin,
                               kBalanceMax);
    }
}

void PathSlot::DecayBalance(TimePoint now) {
    if (balance != 1 && balance_at != TimePoint{} && now > balance_at) {  // 1 stays 1
        const double elapsed = std::chrono::duration<double>(now - balance_at).count();
        const double memory = std::chrono::duration<double>(kBalanceMemory).count();
        balance = std::pow(balance, std::exp(-elapsed / memory));
    }
    balance_at = std::max(balance_at, now);
}

Duration PathSlot::Deadline(Duration floor, Duration ceiling, double factor) const {
    const auto typical = std::chrono::microseconds(static_cast<int64_t>(latency_us * factor));
    return std::clamp<Duration>(typical, floor, ceiling);
}

Duration PathSlot::NoteDown(TimePoint now, Duration base, Duration max, Duration forgive) {
    if (strikes > 0 && forgive > Duration::zero()) {
        const auto forgiven = static_cast<uint64_t>((now - last_down) / forgive);
        strikes = forgiven >= strikes ? 0 : strikes - static_cast<uint32_t>(forgiven);
    }
    ++strikes;
    last_down = now;
    ++counters.path_failures;
    Duration window = base;
    for (uint32_t i = 1; i < strikes && window < max; ++i) window *= 2;
    return std::min(window, max);
}

}  // namespace lunfs
