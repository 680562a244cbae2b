#include "engine/picker.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lunfs {

const char* PolicyName(Policy policy) {
    switch (policy) {
        case Policy::kSpread:
            return "spread";
        case Policy::kRoundRobin:
            return "round-robin";
        case Policy::kQueueDepth:
            return "queue-depth";
        case Policy::kServiceTime:
            return "service-time";
        case Policy::kFailover:
            return "failover";
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
                    (a.outstanding_ios == b.outstanding_ios &&
                     a.outstanding_bytes < b.outstanding_bytes)) {
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
        case Policy::kSpread:
            break;
    }
    return best;
}

// Water-filling over `set` (indexes into `paths`): the time T at which giving each path
// rate * T - backlog bytes (when positive) adds up to `length`. Returns each path's share.
static std::vector<double> Fill(uint64_t length, std::span<const PathLoad> paths,
                                std::vector<size_t> set) {
    std::vector<double> want(paths.size(), 0.0);
    for (;;) {
        double rate_sum = 0, backlog_sum = 0;
        for (size_t i : set) {
            rate_sum += std::max(paths[i].bytes_per_second, 1.0);
            backlog_sum += static_cast<double>(paths[i].outstanding_bytes);
        }
        const double t = (static_cast<double>(length) + backlog_sum) / rate_sum;
        std::vector<size_t> keep;
        for (size_t i : set) {
            if (std::max(paths[i].bytes_per_second, 1.0) * t >
                static_cast<double>(paths[i].outstanding_bytes)) {
                keep.push_back(i);
            }
        }
        if (keep.size() == set.size()) {
            for (size_t i : set) {
                want[i] = std::max(paths[i].bytes_per_second, 1.0) * t -
                          static_cast<double>(paths[i].outstanding_bytes);
            }
            return want;
        }
        set = std::move(keep);  // a path already busier than T takes nothing; solve again
    }
}

// Fills over every path, drops the path with the smallest share while some share is below the
// minimum (and solves again without it), then rounds the shares to blocks.
std::vector<Share> Picker::Spread(uint64_t length, std::span<const PathLoad> paths) const {
    const uint64_t bs = options_.block_size;
    const uint64_t min_share = std::max<uint64_t>(options_.min_share_bytes, bs);
    std::vector<size_t> set(paths.size());
    for (size_t i = 0; i < set.size(); ++i) set[i] = i;

    std::vector<double> want = Fill(length, paths, set);
    for (;;) {
        set.erase(std::remove_if(set.begin(), set.end(), [&](size_t i) { return want[i] <= 0; }),
                  set.end());
        if (set.size() <= 1) break;
        // The smallest share goes; among equal ones the later path, so ties favour the first.
        auto smallest = std::min_element(set.begin(), set.end(), [&](size_t a, size_t b) {
            return want[a] < want[b] || (want[a] == want[b] && a > b);
        });
        if (want[*smallest] >= static_cast<double>(min_share)) break;
        set.erase(smallest);
        want = Fill(length, paths, set);
    }
    if (set.empty()) {  // cannot happen with length > 0; keep the contract anyway
        return {Share{paths.front().path, length}};
    }
    if (set.size() == 1) return {Share{paths[set.front()].path, length}};

    // Nearest whole blocks; the rounding difference goes to (or comes from) the largest share.
    std::vector<uint64_t> bytes(paths.size(), 0);
    uint64_t given = 0;
    for (size_t i : set) {
        bytes[i] = static_cast<uint64_t>(std::llround(want[i] / static_cast<double>(bs))) * bs;
        given += bytes[i];
    }
    const size_t largest = *std::max_element(
        set.begin(), set.end(), [&](size_t a, size_t b) { return bytes[a] < bytes[b]; });
    if (given > length) {
        bytes[largest] -= std::min(bytes[largest], given - length);
    } else {
        bytes[largest] += length - given;
    }
    std::vector<Share> out;
    for (size_t i = 0; i < paths.size(); ++i) {
        if (bytes[i] != 0) out.push_back(Share{paths[i].path, bytes[i]});
    }
    return out;
}

}  // namespace lunfs
