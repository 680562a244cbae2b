// From mount settings to multipath devices: checks what can be checked without the network, logs
// in to every URL, and groups the paths into LUNs by the identity each one reports.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "engine/executor.h"
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

// Logs in to every URL and builds one MultipathDevice per LUN. With grouped_by_identity the URLs
// of the (single) plan are split into LUNs by identity and named from settings.names; otherwise
// each plan is one LUN and all its URLs must reach it. No LUN may appear twice, two URLs naming
// the same target and LUN number must reach the same LUN, and file names must differ.
Result<std::vector<MountedLun>> OpenLuns(const MountSettings& settings, std::vector<LunPlan> plans,
                                         const std::shared_ptr<Executor>& executor);

// `.lunfs/paths` commands: "add FILE URL" and "remove FILE URL". A new path logs in with its
// LUN's settings.
Status RunPathsCommand(std::string_view text, const std::vector<MountedLun>& luns,
                       const std::string& initiator_name);

}  // namespace lunfs
