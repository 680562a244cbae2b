// StatsSampler: reads every LUN's statistics once a period on its own thread, and keeps the
// latest snapshot with each path's throughput each way over the last period. Readers that must
// never reach into the engine (the metrics endpoint, however often it is scraped) use the
// snapshot; only the sampler's thread calls MultipathDevice::Stats().
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/ticker.h"
#include "engine/multipath_device.h"
#include "tools/stats_json.h"

namespace lunfs {

struct PathRate {
    double read_bps = 0;   // bytes per second read through the path over the last period
    double write_bps = 0;  // bytes per second written
};

// Rates by LUN file and path name.
using RateTable = std::map<std::pair<std::string, std::string>, PathRate>;

struct StatsSnapshot {
    struct Lun {
        std::string file;
        LunInfo info;
        LunStats stats;
        CacheStats cache;
    };
    std::vector<Lun> luns;
    RateTable rates;
    // URLs not logged in since the mount, by LUN file: counters all zero, path_state down (or
    // refused), slot_state pending.
    std::vector<std::pair<std::string, PathStats>> pending;
};

class StatsSampler {
  public:
    // `luns` gives the mount's LUNs (it may gain some), `pending` its URLs not logged in yet;
    // both are called on the sampler's thread. The first snapshot is taken before the
    // constructor returns.
    StatsSampler(std::function<std::vector<MountedLun>()> luns,
                 std::function<std::vector<PendingPath>()> pending,
                 std::chrono::milliseconds period = std::chrono::seconds(1));

    std::shared_ptr<const StatsSnapshot> Latest() const;
    RateTable Rates() const { return Latest()->rates; }

  private:
    void Sample();

    const std::function<std::vector<MountedLun>()> luns_;
    const std::function<std::vector<PendingPath>()> pending_;
    std::chrono::steady_clock::time_point last_time_;  // the ticker's thread only, once started
    mutable std::mutex mu_;
    std::shared_ptr<const StatsSnapshot> latest_;  // guarded by mu_
    std::unique_ptr<Ticker> ticker_;               // calls Sample(); last, so that it stops first
};

}  // namespace lunfs
