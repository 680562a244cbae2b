// The JSON document behind `/.lunfs/stats`, and its reading for `lunfs status`.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cache/block_cache.h"
#include "engine/multipath_device.h"
#include "paths/target_fence.h"
#include "tools/mount_options.h"

namespace lunfs {

// CHAP secrets: the one for the URLs' user, and the target's for mutual CHAP (empty: none).
struct ChapSecrets {
    std::string initiator;
    std::string target;
};

struct MountedLun {
    std::string file;  // name in the mount root
    // How the device fences failed sessions; the device holds it too. Declared before the
    // device, so that it goes after it: closing it removes the registrations of the device's
    // paths, which must be closed by then.
    std::shared_ptr<TargetFence> fence;
    std::shared_ptr<MultipathDevice> device;
    std::shared_ptr<BlockCache> cache;  // over `device`; what the file reads and writes through
    LunSettings settings;               // what it was mounted with; new paths log in with these
    ChapSecrets secrets;                // of its URLs' user, and of the target for mutual CHAP
};

// A URL of a LUN that has not logged in since the mount (tools/path_retrier.h).
struct PendingPath {
    std::string file;  // its LUN's
    std::string url;
    std::string state;  // down (tried again), or refused (it reached another LUN)
    std::string error;  // why the last attempt failed
    uint64_t attempts = 0;
    double next_attempt_in_s = -1;  // -1: none (refused)
    bool lun_mounted = true;        // false while no URL of its LUN has logged in
};

struct PathRate;
using RateTable = std::map<std::pair<std::string, std::string>, PathRate>;

// The document: {"pid", "metrics" (the endpoint's host:port, or ""), "log" (stderr, syslog or
// the log file's path), "luns": [{file, identity,
// vendor, product, capacity_bytes, block_size, read_only, policy, requests, failed_requests,
// queued_extents, "paths": [{url, state, use, ..., read_bps, write_bps}]}], "pending_luns":
// [{file, paths}]}. Rates come from `rates` (keyed by file and path; 0 where missing). Each
// pending path is listed with its LUN, in state down (or refused) and use "pending", with
// "error", "attempts" and "next_attempt_in_s"; a LUN none of whose URLs has logged in yet is
// in "pending_luns".
std::string RenderStatsJson(const std::vector<MountedLun>& luns, const RateTable& rates,
                            const std::string& metrics_address,
                            const std::vector<PendingPath>& pending = {});

}  // namespace lunfs
