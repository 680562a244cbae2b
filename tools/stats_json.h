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

struct PathRate;
using RateTable = std::map<std::pair<std::string, std::string>, PathRate>;

// The document: {"pid", "metrics" (the endpoint's host:port, or ""), "log" (stderr, syslog or
// the log file's path), "luns": [{file, identity,
// vendor, product, capacity_bytes, block_size, read_only, policy, requests, failed_requests,
// queued_extents, "paths": [{url, state, use, ..., read_bps, write_bps}]}]}. Rates come from
// `rates` (keyed by file and path; 0 where missing).
std::string RenderStatsJson(const std::vector<MountedLun>& luns, const RateTable& rates,
                            const std::string& metrics_address);

}  // namespace lunfs
