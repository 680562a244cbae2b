#include "tools/mount_options.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>

#include "tools/user_input.h"

namespace lunfs {

namespace {

using M = MountSettings;
using L = LunSettings;

const std::vector<MountOption>& Table() {
    static const std::vector<MountOption> table = {
        {"foreground",
         "-f",
         "",
         "Stay in the foreground and log to stderr",
         &M::foreground,
         0,
         0,
         {},
         false},
        {"name", "", "NAME",
         "File name of a LUN (default lun<N>); on the command line, once per LUN in URL order",
         &L::name},
        {"read-only", "-r", "", "Mount read-only (ro)", &L::read_only},
        {"allow-other", "", "",
         "Let other users use the mount (non-root needs user_allow_other in /etc/fuse.conf)",
         &M::allow_other},
        {"initiator-name", "", "IQN", "Our iSCSI initiator name", &M::initiator_name},
        {"chap-secret-file", "", "FILE",
         "File holding the CHAP secret for the URLs' user (mode 0600, yours); else "
         "$LUNFS_CHAP_SECRET",
         &L::chap_secret_file},
        {"chap-target-user", "", "NAME",
         "Mutual CHAP: the name the target must answer with (needs a CHAP user in the URLs)",
         &L::chap_target_user},
        {"chap-target-secret-file", "", "FILE",
         "Mutual CHAP: file holding the secret the target must prove it knows (mode 0600, "
         "yours); else $LUNFS_CHAP_TARGET_SECRET",
         &L::chap_target_secret_file},
        {"login-timeout", "", "S", "Seconds to connect and log in", &L::login_timeout_s, 1, 600},
        {"command-timeout", "", "S", "Seconds for one SCSI command before the session is torn down",
         &L::command_timeout_s, 1, 3600},
        {"queue-depth", "", "N", "SCSI commands in flight per session", &L::queue_depth, 1, 1024},
        {"unacked-timeout", "", "MS",
         "A path whose sent data stays unacknowledged this long is declared dead (a black hole "
         "or a frozen target is found in about this time)",
         &L::unacked_timeout_ms, 100, 600000},
        {"policy",
         "",
         "P",
         "How requests use the paths: spread (every request over every live path), round-robin, "
         "queue-depth, service-time, failover",
         &L::policy,
         0,
         0,
         {"spread", "round-robin", "queue-depth", "service-time", "failover"}},
        {"fence",
         "",
         "MODE",
         "How a write re-sent after a path failed is kept from being overtaken by its first "
         "copy: reservation (the target refuses the failed session's commands and drains what "
         "it holds: persistent reservation keys per session, PREEMPT, LOGICAL UNIT RESET), reset "
         "(LOGICAL UNIT RESET only), timed (newer writes to those bytes wait 3 s or for the "
         "path's new login), auto (the strongest the LUN allows without disturbing another "
         "initiator's reservations)",
         &L::fence,
         0,
         0,
         {"auto", "reservation", "reset", "timed"}},
        {"rr-switch-every", "", "N", "round-robin: requests per path before switching",
         &L::rr_switch_every, 1, 1000000},
        {"no-path-timeout", "", "S",
         "Seconds I/O waits for a path when none is live, then fails with EIO (0: at once)",
         &L::no_path_timeout_s, 0, 3600},
        {"max-extent", "", "KIB", "Largest single SCSI command in KiB (capped by the LUN's limit)",
         &L::max_extent_kib, 4, 16384},
        {"cache",
         "",
         "MODE",
         "How the LUN's cache may be used: none (nothing kept: the LUN is shared with other "
         "writers), read (reads served from memory and prefetched; writes reach the LUN before "
         "they complete), writeback (writes not opened O_DIRECT/O_SYNC complete in memory and "
         "reach the LUN within 5 s, at fsync and at close)",
         &L::cache,
         0,
         0,
         {"none", "read", "writeback"}},
        {"cache-size", "", "MIB", "Memory each LUN's cache may hold", &L::cache_size_mib, 1, 65536},
        {"readahead", "", "KIB",
         "Most a sequential stream is loaded ahead of its reader, a quarter of the cache at most "
         "(0: no readahead)",
         &L::readahead_kib, 0, 1048576},
        {"fuse-threads", "", "N",
         "FUSE worker threads (they hand requests on, and send a request's last command "
         "themselves when its path is idle; each more wakes for requests too, which costs small "
         "random I/O more than it gains; a control command such as a path add holds one while "
         "it logs in)",
         &M::fuse_threads, 1, 256},
        {"metrics", "", "HOST:PORT",
         "Serve Prometheus metrics on this address (loopback only unless metrics-allow-remote; "
         "port 0 picks one, shown by lunfs status)",
         &M::metrics},
        {"metrics-allow-remote", "", "",
         "Let --metrics listen on a non-loopback address (the endpoint has no authentication)",
         &M::metrics_allow_remote},
        {"shared-lun", "", "",
         "Mount a LUN even when another lunfs daemon on this host serves it with a cache (its "
         "users must coordinate, as a cluster file system does); without it that is refused "
         "unless both mounts use --cache none",
         &M::shared_lun},
        {"wait", "", "S",
         "When no URL of a LUN can be reached, keep trying this long before giving up on it "
         "(0: at once; what an fstab line with _netdev needs at boot); URLs that cannot be "
         "reached while others of their LUN can are retried in the background whatever this is",
         &M::wait_s, 0, 86400},
        {"log-level",
         "",
         "L",
         "trace, debug, info, warn, error, critical or off",
         &M::log_level,
         0,
         0,
         {"trace", "debug", "info", "warn", "error", "critical", "off"}},
        {"log-file", "", "FILE", "Where the daemon logs (default: stderr with -f, else syslog)",
         &M::log_file},
    };
    return table;
}

template <typename T>
constexpr bool kIsLunField = false;
template <typename T>
constexpr bool kIsLunField<T LunSettings::*> = true;

Status Error(const std::string& origin, const std::string& what) {
    return Status::Fail(EINVAL, fmt::format("{}: {}", origin, what));
}

std::string Shown(const OptionValue& v) {
    return std::visit(
        [](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string>) {
                return fmt::format("'{}'", x);
            } else if constexpr (std::is_same_v<T, bool>) {
                return x ? "true" : "false";
            } else {
                return fmt::format("{}", x);
            }
        },
        v);
}

Result<bool> ToBool(const OptionValue& v, bool typed) {
    if (const bool* b = std::get_if<bool>(&v)) return *b;
    if (const std::string* s = std::get_if<std::string>(&v); s && !typed) {
        if (s->empty() || *s == "true" || *s == "yes" || *s == "on" || *s == "1") return true;
        if (*s == "false" || *s == "no" || *s == "off" || *s == "0") return false;
    }
    return Status::Fail(EINVAL, fmt::format("must be true or false, not {}", Shown(v)));
}

Result<double> ToNumber(const MountOption& o, const OptionValue& v, bool whole, bool typed) {
    double out = 0;
    bool ok = false;
    if (const int64_t* i = std::get_if<int64_t>(&v)) {
        out = static_cast<double>(*i);
        ok = true;
    } else if (const double* d = std::get_if<double>(&v)) {
        out = *d;
        ok = !whole || std::floor(*d) == *d;
    } else if (const std::string* s = std::get_if<std::string>(&v); s && !typed) {
        const char* end = s->data() + s->size();
        auto [ptr, ec] = std::from_chars(s->data(), end, out);
        ok = !s->empty() && ec == std::errc() && ptr == end && std::isfinite(out) &&
             (!whole || std::floor(out) == out);
    }
    if (!ok || out < o.min || out > o.max) {
        return Status::Fail(EINVAL,
                            fmt::format("must be a {} from {} to {}, not {}",
                                        whole ? "whole number" : "number", o.min, o.max, Shown(v)));
    }
    return out;
}

Result<std::string> ToText(const MountOption& o, const OptionValue& v) {
    const std::string* s = std::get_if<std::string>(&v);
    if (!s) return Status::Fail(EINVAL, fmt::format("must be a string, not {}", Shown(v)));
    if (!o.choices.empty() &&
        std::find(o.choices.begin(), o.choices.end(), *s) == o.choices.end()) {
        std::string list;
        for (std::string_view c : o.choices) list += (list.empty() ? "" : ", ") + std::string(c);
        return Status::Fail(EINVAL, fmt::format("unknown value {} (use {})", Shown(v), list));
    }
    return *s;
}

// Stores `v` into `target.*field`, converted to the field's type.
template <typename Owner, typename T>
Status Store(const MountOption& o, const OptionValue& v, bool typed, Owner& target,
             T Owner::*field) {
    if constexpr (std::is_same_v<T, bool>) {
        Result<bool> b = ToBool(v, typed);
        if (!b.ok()) return b.status();
        target.*field = b.value();
    } else if constexpr (std::is_same_v<T, std::string>) {
        Result<std::string> s = ToText(o, v);
        if (!s.ok()) return s.status();
        target.*field = std::move(s).value();
    } else {
        Result<double> d = ToNumber(o, v, !std::is_floating_point_v<T>, typed);
        if (!d.ok()) return d.status();
        target.*field = static_cast<T>(d.value());
    }
    return Status::Ok();
}

template <typename T>
std::string Text(const T& value) {
    if constexpr (std::is_same_v<T, bool>) {
        return value ? "true" : "false";
    } else {
        return fmt::format("{}", value);
    }
}

// The names -o takes, for a did-you-mean.
const std::vector<std::string>& FuseOptionNames() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out = {"ro", "rw", "config"};
        for (const MountOption& o : Table()) {
            if (o.key != "foreground") out.emplace_back(o.key);
        }
        return out;
    }();
    return names;
}

// Option names that mount helpers pass and that lunfs accepts without effect.
bool Ignored(std::string_view name) {
    static constexpr std::string_view kIgnored[] = {
        "defaults",    "auto",       "noauto",
        "_netdev",     "nofail",     "user",
        "nouser",      "users",      "suid",
        "nosuid",      "dev",        "nodev",
        "exec",        "noexec",     "atime",
        "noatime",     "relatime",   "norelatime",
        "strictatime", "diratime",   "nodiratime",
        "lazytime",    "nolazytime", "sync",
        "async",       "dirsync",    "default_permissions"};
    return name.starts_with("x-") || name.starts_with("comment=") ||
           std::find(std::begin(kIgnored), std::end(kIgnored), name) != std::end(kIgnored);
}

}  // namespace

bool MountOption::per_lun() const {
    return std::visit([](auto f) { return kIsLunField<decltype(f)>; }, field);
}

bool MountOption::is_flag() const { return value_name.empty(); }

std::span<const MountOption> AllMountOptions() { return Table(); }

const MountOption* FindMountOption(std::string_view key) {
    for (const MountOption& o : Table()) {
        if (o.key == key) return &o;
    }
    return nullptr;
}

Status ApplyOption(const OptionAssignment& a, MountSettings& settings) {
    const MountOption& o = *a.option;
    if (std::holds_alternative<std::string LunSettings::*>(o.field) &&
        std::get<std::string LunSettings::*>(o.field) == &LunSettings::name) {
        Result<std::string> name = ToText(o, a.value);
        if (!name.ok()) return Error(a.origin, name.status().message());
        settings.names.push_back(std::move(name).value());
        return Status::Ok();
    }
    Status s = std::visit(
        [&](auto field) -> Status {
            if constexpr (kIsLunField<decltype(field)>) {
                return Store(o, a.value, a.typed, settings.defaults, field);
            } else {
                return Store(o, a.value, a.typed, settings, field);
            }
        },
        o.field);
    return s.ok() ? s : Error(a.origin, s.message());
}

Status ApplyLunOption(const OptionAssignment& a, LunSettings& lun) {
    const MountOption& o = *a.option;
    Status s = std::visit(
        [&](auto field) -> Status {
            if constexpr (kIsLunField<decltype(field)>) {
                return Store(o, a.value, a.typed, lun, field);
            } else {
                return Status::Fail(EINVAL, "applies to the whole mount, not to one LUN");
            }
        },
        o.field);
    return s.ok() ? s : Error(a.origin, s.message());
}

std::string OptionText(const MountOption& option, const MountSettings& settings) {
    return std::visit(
        [&](auto field) -> std::string {
            if constexpr (kIsLunField<decltype(field)>) {
                return Text(settings.defaults.*field);
            } else {
                return Text(settings.*field);
            }
        },
        option.field);
}

Status ParseFuseOptions(std::string_view text, std::vector<OptionAssignment>& out,
                        std::string& config) {
    while (!text.empty()) {
        const size_t comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
        if (item.empty() || Ignored(item)) continue;
        const size_t eq = item.find('=');
        std::string key(item.substr(0, eq));
        std::replace(key.begin(), key.end(), '_', '-');
        const std::string value =
            eq == std::string_view::npos ? "" : std::string(item.substr(eq + 1));
        const std::string origin = fmt::format("-o {}", item.substr(0, eq));
        if (key == "ro" || key == "rw") {
            if (eq != std::string_view::npos) return Error(origin, "takes no value");
            out.push_back({FindMountOption("read-only"), key == "ro", origin});
            continue;
        }
        if (key == "config") {
            if (value.empty()) return Error(origin, "needs a file: config=FILE");
            config = value;
            continue;
        }
        const MountOption* o = FindMountOption(key);
        if (!o || o->key == "foreground") {
            const std::string typed(item.substr(0, eq));
            return Status::Fail(EINVAL, fmt::format("unknown mount option '{}'{}", typed,
                                                    DidYouMean(typed, FuseOptionNames(),
                                                               " (see lunfs mount --help)")));
        }
        if (!o->is_flag() && eq == std::string_view::npos) {
            return Error(origin, fmt::format("needs a value: {}={}", o->key, o->value_name));
        }
        out.push_back({o, value, origin});
    }
    return Status::Ok();
}

}  // namespace lunfs
