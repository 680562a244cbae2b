// The options of `lunfs mount`, in one table shared by the three ways to give them: command-line
// flags (--queue-depth 32), config file keys (queue-depth = 32) and mount.fuse3 options
// (-o queue-depth=32). Adding an option is a field in MountSettings or LunSettings and one row in
// the table in mount_options.cc; the flag, the key, the -o name, the check of its value, its
// help text and its man page entry all come from that row.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"

namespace lunfs {

// Settings of one LUN. Given for the whole mount (flags, -o, top-level config keys) they are the
// default of every LUN; a config's [[lun]] table overrides them for its LUN.
struct LunSettings {
    std::string name;               // file name in the mount; "" names it lun<N>
    std::vector<std::string> urls;  // its paths
    bool read_only = false;
    std::string chap_secret_file;
    std::string chap_target_user;  // mutual CHAP: the name the target answers with
    std::string chap_target_secret_file;
    int login_timeout_s = 15;
    int command_timeout_s = 30;
    unsigned queue_depth = 64;
    unsigned unacked_timeout_ms = 500;
    unsigned max_extent_kib = 1024;
    std::string policy = "spread";
    std::string fence = "auto";  // auto, reservation, reset or timed (paths/target_fence.h)
    unsigned rr_switch_every = 1000;
    double no_path_timeout_s = 30;
    std::string cache = "read";      // none, read or writeback
    unsigned cache_size_mib = 64;    // memory the LUN's cache may hold
    unsigned readahead_kib = 16384;  // most a sequential stream is loaded ahead; 0: none
    int line = 0;  // the line of its [[lun]] table in the config; 0 for the command line
};

struct MountSettings {
    std::string mountpoint;
    std::string config;  // the config file it was read from, if any
    bool foreground = false;
    bool allow_other = false;
    std::string initiator_name = "iqn.2026-11.io.lunfs:initiator";
    unsigned fuse_threads = 2;
    std::string log_level = "info";
    std::string log_file;
    std::string metrics;                // host:port of the Prometheus endpoint; "" for none
    bool metrics_allow_remote = false;  // let --metrics listen on a non-loopback address
    bool shared_lun = false;  // mount LUNs another lunfs daemon here serves, whatever the caches
    // Seconds to keep trying while no URL of a LUN can be reached before giving up on it (at
    // boot, the network may come up after the mount is started); 0 gives up at once.
    unsigned wait_s = 0;
    LunSettings defaults;            // the per-LUN options given for the whole mount
    std::vector<std::string> names;  // --name values, in order (command line and -o)
    // The LUNs. From the command line: one entry holding every URL, split into LUNs by their
    // identity (and named from `names`). From a config: one entry per [[lun]] table.
    std::vector<LunSettings> luns;
    bool grouped_by_identity = true;  // false when the LUNs come from [[lun]] tables
};

using OptionField =
    std::variant<bool MountSettings::*, unsigned MountSettings::*, std::string MountSettings::*,
                 bool LunSettings::*, int LunSettings::*, unsigned LunSettings::*,
                 double LunSettings::*, std::string LunSettings::*>;

// A value as given: command-line and -o values are text, config values are typed.
using OptionValue = std::variant<bool, int64_t, double, std::string>;

struct MountOption {
    std::string_view key;         // --key, key = ..., -o key=...
    std::string_view short_flag;  // "-f", or "" for none
    std::string_view value_name;  // "N", "S", "FILE"; "" for a flag
    std::string_view help;
    OptionField field;
    double min = 0, max = 0;                  // numbers: the accepted range
    std::vector<std::string_view> choices{};  // text with a fixed set of values
    bool config_allowed = true;               // false: command line and -o only

    bool per_lun() const;
    bool is_flag() const;
};

// Every option, in the order `--help` shows them.
std::span<const MountOption> AllMountOptions();
const MountOption* FindMountOption(std::string_view key);

// One option given somewhere: `origin` says where, for error messages ("--queue-depth",
// "-o queue-depth", "san.toml:12").
struct OptionAssignment {
    const MountOption* option = nullptr;
    OptionValue value;
    std::string origin;
    bool typed = false;  // from a config: a string is only a string, never "32" or "true"
};

// Checks the value against the option (type, range, choices) and stores it: per-LUN options in
// `settings.defaults` (`name` is appended to `settings.names`), the others in `settings`. Text is
// parsed as the field's type. The error starts with the assignment's origin.
Status ApplyOption(const OptionAssignment& a, MountSettings& settings);
// The same for one LUN's own settings; the option must be a per-LUN one.
Status ApplyLunOption(const OptionAssignment& a, LunSettings& lun);

// The option's value in `settings` as text ("64", "spread", "true"), for help and man pages.
std::string OptionText(const MountOption& option, const MountSettings& settings);

// mount.fuse3 options ("rw,noatime,policy=failover,name=disk"), as assignments in order.
// Options every mount helper may pass are accepted: `ro` and `rw` set read-only; `_netdev`,
// `defaults`, `nofail`, `x-*` and the kernel flags that cannot matter to lunfs (nosuid, nodev,
// noexec, noatime, ...: its files are never executable, it has no device nodes, and times are
// fixed) are ignored. `config=FILE` is returned in `config`. `_` and `-` are the same in names
// (allow_other is allow-other). Errors name the option.
Status ParseFuseOptions(std::string_view text, std::vector<OptionAssignment>& out,
                        std::string& config);

}  // namespace lunfs
