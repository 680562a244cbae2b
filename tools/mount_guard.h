// Refusals that keep lunfs daemons on one host from getting in each other's way: two mounts
// stacked on one directory, and one LUN mounted twice with a cache (each daemon's cache would
// serve data the other has overwritten, and write-back could put old data over new). The lunfs
// mounts of this host are read from /proc/self/mountinfo; what each holds, from its
// .lunfs/stats.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "tools/stats_json.h"

namespace lunfs {

// A LUN another lunfs daemon serves.
struct MountedIdentity {
    std::string mountpoint;
    std::string file;
    std::string identity;
    std::string cache;  // none, read or writeback
    int pid = 0;
};

// The mountpoints of every lunfs mount visible here, from mountinfo text.
std::vector<std::string> LunfsMountpoints(const std::string& mountinfo);

// Fails (exit code 2 material) when `mountpoint` already holds a lunfs mount.
Status CheckMountpointFree(const std::string& mountpoint);

// The LUNs every lunfs mount of this host serves, each mount's .lunfs/stats read with a 2 s
// bound. A mount whose daemon does not answer in that time is left out with a warning (one hung
// daemon must not keep the host's other LUNs from mounting), as are mounts whose stats are not
// lunfs's JSON.
std::vector<MountedIdentity> MountedIdentities();

// The decision for one LUN about to be mounted: refused when another mount serves the same
// identity, unless both use no cache or `shared` (--shared-lun) says the user means it.
Status CheckSharedLun(const std::string& file, const std::string& identity,
                      const std::string& cache, bool shared,
                      const std::vector<MountedIdentity>& others);

// CheckSharedLun for every LUN of a mount, against MountedIdentities().
Status CheckLunsNotMountedElsewhere(const std::vector<MountedLun>& luns, bool shared);

}  // namespace lunfs
