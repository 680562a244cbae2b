#include "engine/picker.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lunfs {

const char* PolicyName(Policy policy) {
    switch (policy) {
        case Policy::kSpread: return "spread";
        case Policy::kRoundRobin: return "round-robin";
        case Policy::kQueueDepth: return "queue-depth";
        case Policy::kServiceTime: return "service-time";
        case Policy::kFailover: return "failover";
    }
    return "?";
}

std::optional<Policy> ParsePolicy(const std::string& name) {
    for (Policy p : {Policy::kSpread, Policy::kRoundRobin, Policy::kQueueDepth,
                     Policy::kServiceTime, Policy::kFailover}) {
        if (name == PolicyName(p)) return p;
    }
    return std::nullopt;
}

namespace {

// Seconds until a path would finish `extra` more bytes behind what it already has.
double FinishTime(const PathLoad& p, uint64_t extra) {
    return static_cast<double>(p.outstanding_bytes + extra) / std::max(p.bytes_per_second, 1.0);
}

}  // namespace

std::vector<Share> Picker::Split(uint64_t length, std::span<const PathLoad> paths) {
    if (paths.empty() || length == 0) return {};
    if (options_.policy == Policy::kSpread) return Spread(length, paths);
    return {Share{paths[Whole(length, paths)].path, length}};
}

// Index into `paths` of the one path that takes the whole request.
size_t Picker::Whole(uint64_t length, std::span<const PathLoad> paths) {
    size_t best = 0;
    switch (options_.policy) {
        case Policy::kRoundRobin: {
            auto it = std::find_if(paths.begin(), paths.end(),
                                   [&](const PathLoad& p) { return p.path == rr_path_; });
            if (it == paths.end() || rr_count_ >= options_.switch_every) {
                // Move on to the next live path after the current one in engine order,
                // wrapping around (SIZE_MAX: none yet, start with the first).
                size_t next = 0;
                for (size_t i = 0; i < paths.size(); ++i) {
                    if (rr_path_ != SIZE_MAX && paths[i].path > rr_path_) {
                        next = i;
                        break;
                    }
                }
                rr_path_ = paths[next].path;
                rr_count_ = 0;
                it = paths.begin() + static_cast<ptrdiff_t>(next);
            }
            ++rr_count_;
            return static_cast<size_t>(it - paths.begin());
        }
        case Policy::kQueueDepth:
            for (size_t i = 1; i < paths.size(); ++i) {
                const PathLoad& a = paths[i];
                const PathLoad& b = paths[best];
                if (a.outstanding_ios < b.outstanding_ios ||
                    (a.outstanding_ios == b.outstanding_ios && a.outstanding_bytes < b.outstanding_bytes)) {
                    best = i;
                }
            }
            return best;
        case Policy::kServiceTime:
            for (size_t i = 1; i < paths.size(); ++i) {
                if (FinishTime(paths[i], length) < FinishTime(paths[best], length)) best = i;
            }
            return best;
        case Policy::kFailover:
            for (size_t i = 1; i < paths.size(); ++i) {
                if (paths[i].priority < paths[best].priority) best = i;
            }
            return best;
        case Policy::kSpread: break;
    }
    return best;
}

// Water-filling: find the time T at which, giving path i the share rate_i * T - backlog_i (if
// positive), the shares add up to `length`; then round to blocks and fold away pieces below the
// minimum share into the paths that keep theirs.
std::vector<Share> Picker::Spread(uint64_t length, std::span<const PathLoad> paths) const {
    const uint64_t bs = options_.block_size;
    const size_t n = paths.size();
    // At most length / min_share paths take part, the fastest to finish first.
    const uint64_t min_share = std::max<uint64_t>(options_.min_share_bytes, bs);
    const size_t max_paths = static_cast<size_t>(std::clamp<uint64_t>(length / min_share, 1, n));

    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return FinishTime(paths[a], min_share) < FinishTime(paths[b], min_share);
    });
    order.resize(max_paths);

    // Solve for T over the chosen paths, dropping any whose backlog already exceeds T.
    std::vector<double> want(n, 0.0);
    std::vector<size_t> active = order;
    for (;;) {
        double rate_sum = 0, backlog_sum = 0;
        for (size_t i : active) {
            rate_sum += std::max(paths[i].bytes_per_second, 1.0);
            backlog_sum += static_cast<double>(paths[i].outstanding_bytes);
        }
        const double t = (static_cast<double>(length) + backlog_sum) / rate_sum;
        std::vector<size_t> keep;
        for (size_t i : active) {
            if (std::max(paths[i].bytes_per_second, 1.0) * t > static_cast<double>(paths[i].outstanding_bytes)) {
                keep.push_back(i);
            }
        }
        if (keep.size() == active.size() || keep.empty()) {
            if (keep.empty()) keep = {order.front()};
            for (size_t i : keep) {
                want[i] = std::max(paths[i].bytes_per_second, 1.0) * t -
                          static_cast<double>(paths[i].outstanding_bytes);
            }
            if (keep.size() == 1) want[keep[0]] = static_cast<double>(length);
            break;
        }
        active = std::move(keep);
    }

    // Round down to blocks; shares under the minimum go; the remainder goes to the largest share.
    std::vector<uint64_t> bytes(n, 0);
    uint64_t given = 0;
    for (size_t i = 0; i < n; ++i) {
        uint64_t b = static_cast<uint64_t>(std::max(want[i], 0.0));
        b -= b % bs;
        b = std::min(b, length);
        if (b < min_share && b < length) b = 0;
        bytes[i] = b;
        given += b;
    }
    while (given > length) {  // rounding cannot overshoot by much; trim the largest
        const size_t big = static_cast<size_t>(std::max_element(bytes.begin(), bytes.end()) - bytes.begin());
        const uint64_t cut = std::min(bytes[big], given - length);
        bytes[big] -= cut;
        given -= cut;
    }
    size_t largest = static_cast<size_t>(std::max_element(bytes.begin(), bytes.end()) - bytes.begin());
    if (bytes[largest] == 0) largest = order.front();
    bytes[largest] += length - given;

    std::vector<Share> out;
    for (size_t i = 0; i < n; ++i) {
        if (bytes[i] != 0) out.push_back(Share{paths[i].path, bytes[i]});
    }
    return out;
}

}  // namespace lunfs
