// The path picker: how much of a request each live path gets.
//
// Pure and single-threaded: the engine hands it a snapshot of the live paths' load and gets back
// block-aligned shares. Policies:
//   spread        every request over every live path, shares sized so that all paths finish at
//                 the same estimated time given their throughput and the bytes already
//                 outstanding on them (a slow or busy path gets proportionally less); the engine
//                 passes measured throughput corrected by how often each path finished last
//                 (PathSlot::Balance);
//   round-robin   the whole request on one path, switching after every `switch_every` requests
//                 (1000 reproduces the classic MPIO default);
//   queue-depth   the whole request on the path with the fewest commands outstanding;
//   service-time  the whole request on the path expected to finish it first;
//   failover      the whole request on the live path of best (lowest) priority.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace lunfs {

enum class Policy { kSpread, kRoundRobin, kQueueDepth, kServiceTime, kFailover };

const char* PolicyName(Policy policy);
std::optional<Policy> ParsePolicy(const std::string& name);

struct PathLoad {
    size_t path = 0;                 // the engine's index of the path
    double bytes_per_second = 0;     // measured throughput estimate (> 0)
    uint64_t outstanding_bytes = 0;  // sent and not yet completed
    uint32_t outstanding_ios = 0;
    int priority = 0;  // lower is preferred (failover)
};

struct Share {
    size_t path = 0;
    uint64_t bytes = 0;
};

struct PickerOptions {
    Policy policy = Policy::kSpread;
    uint32_t switch_every = 1000;         // round-robin
    uint32_t block_size = 512;            // shares are multiples of it
    uint32_t min_share_bytes = 64 << 10;  // spread: no path gets a smaller piece than this
};

class Picker {
  public:
    explicit Picker(PickerOptions options) : options_(options) {}

    // Splits `length` bytes (a multiple of the block size) over `paths` (not empty). Shares are
    // in `paths` order, each non-zero, and add up to `length`.
    std::vector<Share> Split(uint64_t length, std::span<const PathLoad> paths);

    const PickerOptions& options() const { return options_; }

  private:
    std::vector<Share> Spread(uint64_t length, std::span<const PathLoad> paths) const;
    size_t Whole(uint64_t length, std::span<const PathLoad> paths);

    PickerOptions options_;
    size_t rr_path_ = SIZE_MAX;  // round-robin: the engine index in use
    uint32_t rr_count_ = 0;
};

}  // namespace lunfs
