// Config files for `lunfs mount -c FILE` (TOML):
//
//   mountpoint = "/mnt/san"          # optional; the command line's wins
//   policy = "spread"                # any mount option: the default of every LUN
//
//   [[lun]]
//   name = "vm1"
//   urls = ["iscsi://192.0.2.10/iqn.2026-01.com.example:store/1",
//           "iscsi://192.0.2.11/iqn.2026-01.com.example:store/1"]
//   read-only = true                 # per-LUN options override the defaults for this LUN
//
//   [[lun]]
//   name = "scratch"
//   portals = ["192.0.2.10", "192.0.2.11:3261"]   # or: portals + target + lun
//   target = "iqn.2026-01.com.example:store"
//   lun = 2
//
// Keys are the long option names of `lunfs mount`. Unknown keys, values of the wrong type or out
// of range, and a [[lun]] without URLs are errors that name the file and line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tools/mount_options.h"

namespace lunfs {

struct MountConfig {
    std::string mountpoint;
    std::vector<OptionAssignment> options;  // top-level keys, in line order
    struct Lun {
        int line = 0;
        std::vector<std::string> urls;
        std::vector<OptionAssignment> options;  // its own keys (name included), in line order
    };
    std::vector<Lun> luns;
};

// Parses config text; `source` names it in errors ("san.toml"). Values are checked when the
// assignments are applied (ApplyOption), with the same file:line origin.
Result<MountConfig> ParseMountConfig(std::string_view text, const std::string& source);
Result<MountConfig> LoadMountConfig(const std::string& path);

// What `lunfs mount` was given. Precedence: built-in defaults, then the config's top-level keys,
// then the command line and -o options (which set every LUN's default); a [[lun]] table's own
// keys win for its LUN.
struct MountRequest {
    std::string config;                     // path, or ""
    std::string mountpoint;                 // "" takes the config's
    std::vector<std::string> urls;          // from the command line
    std::vector<OptionAssignment> options;  // command line and -o, in order
};

// The settings to mount with: loads the config, applies every assignment, and checks that there
// is a mountpoint and something to mount. Errors are one line (exit code 2 material).
Result<MountSettings> ResolveMountSettings(const MountRequest& request);

}  // namespace lunfs
