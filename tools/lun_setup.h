// From mount settings to multipath devices: checks what can be checked without the network, logs
// in to every URL, and groups the paths into LUNs by the identity each one reports. A URL that
// cannot be reached does not keep its LUN from mounting when another URL of it answers; it is
// handed back to be retried in the background (tools/path_retrier.h).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "engine/executor.h"
#include "paths/iscsi_path.h"
#include "paths/iscsi_url.h"
#include "tools/mount_options.h"
#include "tools/stats_json.h"

namespace lunfs {

// One entry of MountSettings::luns, checked: URLs parsed, CHAP secrets loaded.
struct LunPlan {
    LunSettings settings;
    std::vector<IscsiUrl> urls;
    ChapSecrets secrets;
};

// Checks URLs, names and CHAP secrets. No network.
Result<std::vector<LunPlan>> PlanLuns(const MountSettings& settings);

// A URL that could not be reached: tried again after kRetryFirst, doubling to kRetryMax, and
// never given up (a portal back after an hour is as welcome as one back after a second).
constexpr std::chrono::seconds kRetryFirst{1};
constexpr std::chrono::seconds kRetryMax{30};

// Whether a failure to open a path may pass by itself (refused or dropped connections, timeouts,
// names that do not resolve yet), as opposed to an answer that will not change (a login refused,
// no such target or LUN), which stops a mount as a bad URL does.
bool Unreachable(const Status& status);

struct UnreachedUrl {
    IscsiUrl url;
    Status error;  // why its last attempt failed
};

// A LUN none of whose URLs could be reached (a [[lun]] of a config file): it is mounted when one
// of them logs in.
struct PendingLun {
    std::string file;
    LunSettings settings;
    ChapSecrets secrets;
    std::vector<UnreachedUrl> urls;
};

struct OpenedLuns {
    std::vector<MountedLun> mounted;
    std::vector<std::vector<UnreachedUrl>> unreached;  // by mounted LUN: its URLs not logged in
    std::vector<PendingLun> pending;
};

// Logs in to every URL (all at once) and builds one MultipathDevice per LUN. With
// grouped_by_identity the URLs of the (single) plan are split into LUNs by identity and named
// from settings.names; otherwise each plan is one LUN and all its URLs must reach it. No LUN may
// appear twice, two URLs naming the same target and LUN number must reach the same LUN, and file
// names must differ.
// URLs that cannot be reached (Unreachable) are returned with their LUN: on the command line, the
// LUN whose answering URLs name the same target and LUN number, else the only LUN when one is
// mounted. A LUN none of whose URLs answers is tried again for settings.wait_s seconds; after
// that it is pending (config files), and when no LUN at all answers, the first URL's error is
// returned.
Result<OpenedLuns> OpenLuns(const MountSettings& settings, std::vector<LunPlan> plans,
                            const std::shared_ptr<Executor>& executor);

// Logs in to one path of a LUN with the LUN's settings; `keys`: what its fence asks new paths
// to register with (TargetFence::KeysForNewPaths).
Result<std::shared_ptr<IscsiPath>> OpenPath(const LunSettings& lun,
                                            const std::string& initiator_name, const IscsiUrl& url,
                                            const ChapSecrets& secrets,
                                            std::shared_ptr<ReservationKeys> keys = nullptr);

// A LUN over `paths` (up, one identity): its fence (settings.fence), engine and cache.
Result<MountedLun> MakeMountedLun(std::string file, const LunSettings& settings,
                                  const ChapSecrets& secrets,
                                  std::vector<std::shared_ptr<IscsiPath>> paths, bool shared_lun,
                                  const std::string& initiator_name,
                                  const std::shared_ptr<Executor>& executor);

// `.lunfs/paths` commands: "add FILE URL" and "remove FILE URL". A new path logs in with its
// LUN's settings.
Status RunPathsCommand(std::string_view text, const std::vector<MountedLun>& luns,
                       const std::string& initiator_name);

}  // namespace lunfs
