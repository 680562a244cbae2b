#include "tools/lun_setup.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <future>
#include <sstream>
#include <thread>

#include "cache/block_cache.h"
#include "engine/multipath_device.h"
#include "paths/iscsi_path.h"
#include "paths/target_fence.h"
#include "tools/secret.h"
#include "tools/user_input.h"

namespace lunfs {

namespace {

// "san.toml:12: " for a LUN from a config, "" for the command line.
std::string Where(const MountSettings& settings, const LunSettings& lun) {
    return lun.line > 0 ? fmt::format("{}:{}: ", settings.config, lun.line) : "";
}

Status CheckName(const std::string& name) {
    if (name.empty() || name.size() > 255 || name.find('/') != std::string::npos ||
        name.starts_with('.')) {
        return Status::Fail(EINVAL, fmt::format("'{}' cannot be a file name (1 to 255 bytes, no "
                                                "'/', not starting with '.')",
                                                name));
    }
    return Status::Ok();
}

IscsiPathOptions PathOptions(const LunSettings& lun, const std::string& initiator_name,
                             const IscsiUrl& url, const ChapSecrets& secrets) {
    IscsiPathOptions po;
    po.url = url;
    po.initiator_name = initiator_name;
    po.chap_secret = secrets.initiator;
    po.chap_target_user = lun.chap_target_user;
    po.chap_target_secret = secrets.target;
    po.login_timeout_s = lun.login_timeout_s;
    po.command_timeout_s = lun.command_timeout_s;
    po.queue_depth = lun.queue_depth;
    po.unacked_timeout_ms = static_cast<int>(lun.unacked_timeout_ms);
    return po;
}

CacheOptions MakeCacheOptions(const LunSettings& lun) {
    CacheOptions co;
    co.mode = *ParseCacheMode(lun.cache);  // checked by the options table
    co.capacity_bytes = uint64_t{lun.cache_size_mib} << 20;
    co.readahead.max_window = uint64_t{lun.readahead_kib} << 10;
    co.readahead.min_window = std::min<uint64_t>(co.readahead.max_window, 1 << 20);
    co.dirty_max_bytes = co.capacity_bytes / 4;
    return co;
}

EngineOptions MakeEngineOptions(const LunSettings& lun) {
    EngineOptions eo;
    eo.picker.policy = *ParsePolicy(lun.policy);
    eo.picker.switch_every = lun.rr_switch_every;
    eo.max_extent_bytes = lun.max_extent_kib * 1024;
    eo.no_path_timeout =
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(lun.no_path_timeout_s));
    eo.deadline_ceiling = std::chrono::seconds(lun.command_timeout_s);
    return eo;
}

// The keys of this process's sessions, shared by all its LUNs (paths/reservation.h).
std::shared_ptr<ReservationKeys> ProcessKeys(const std::string& initiator_name) {
    static std::shared_ptr<ReservationKeys> keys =
        std::make_shared<ReservationKeys>(initiator_name, static_cast<uint32_t>(getpid()));
    return keys;
}

Result<std::shared_ptr<TargetFence>> OpenFence(
    const LunSettings& lun, bool shared_lun, const std::string& initiator_name,
    const ChapSecrets& secrets, const std::vector<std::shared_ptr<IscsiPath>>& paths) {
    TargetFence::Options fo;
    fo.request = ParseFenceRequest(lun.fence).value();  // checked by the options table
    fo.control = PathOptions(lun, initiator_name, paths.front()->url(), secrets);
    fo.keys = ProcessKeys(initiator_name);
    fo.shared_lun = shared_lun;
    return TargetFence::Open(std::move(fo), paths);
}

// A LUN being assembled: its paths so far.
struct Group {
    const LunPlan* plan;
    std::string name;
    std::vector<std::shared_ptr<IscsiPath>> paths;
    std::vector<UnreachedUrl> unreached;  // its URLs that did not log in
    size_t first = SIZE_MAX;              // the index of its first URL, answering or not
    const std::string& identity() const { return paths.front()->info().identity; }
};

// Finds (or, when `create`, starts) the group of `path` among `groups`.
Result<Group*> GroupFor(std::vector<Group>& groups, const LunPlan& plan, const IscsiPath& path,
                        const MountSettings& settings, bool create) {
    const std::string& id = path.info().identity;
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const Group& g) { return g.identity() == id; });
    if (it != groups.end()) {
        if (it->plan != &plan) {
            return Status::Fail(
                EINVAL, fmt::format("{}{} reaches LUN {}, which is also LUN '{}'",
                                    Where(settings, plan.settings), path.name(), id, it->name));
        }
        if (it->paths.front()->info().capacity.blocks != path.info().capacity.blocks) {
            return Status::Fail(EINVAL, fmt::format("{} shows another capacity than the LUN's "
                                                    "other paths",
                                                    path.name()));
        }
        return &*it;
    }
    if (!create) {
        const Group& first = *std::find_if(groups.begin(), groups.end(),
                                           [&](const Group& g) { return g.plan == &plan; });
        return Status::Fail(EINVAL, fmt::format("{}{} reaches LUN {}, but {} reaches LUN {}: the "
                                                "URLs of one [[lun]] must reach one LUN",
                                                Where(settings, plan.settings), path.name(), id,
                                                first.paths.front()->name(), first.identity()));
    }
    // Command-line LUNs are named from settings.names once every URL has found its LUN.
    groups.push_back({&plan, plan.settings.name, {}, {}});
    return &groups.back();
}

// Mutual CHAP needs the target's name and secret, and one-way CHAP under it (a user in every
// URL).
Status LoadTargetSecret(const LunSettings& lun, LunPlan& plan) {
    if (lun.chap_target_user.empty()) {
        if (!lun.chap_target_secret_file.empty()) {
            return Status::Fail(EINVAL, "chap-target-secret-file needs chap-target-user");
        }
        return Status::Ok();
    }
    Result<std::string> secret = LoadSecret(lun.chap_target_secret_file, kChapTargetSecretEnv);
    if (!secret.ok()) return secret.status();
    if (secret.value().empty()) {
        return Status::Fail(EINVAL, fmt::format("chap-target-user needs the target's secret: "
                                                "--chap-target-secret-file or ${}",
                                                kChapTargetSecretEnv));
    }
    for (const IscsiUrl& url : plan.urls) {
        if (url.user.empty()) {
            return Status::Fail(EINVAL, fmt::format("mutual CHAP needs a CHAP user in every URL "
                                                    "(iscsi://USER@host/...): {}",
                                                    url.ToString()));
        }
    }
    plan.secrets.target = std::move(secret).value();
    return Status::Ok();
}

}  // namespace

Result<std::vector<LunPlan>> PlanLuns(const MountSettings& settings) {
    for (const std::string& name : settings.names) {
        if (Status s = CheckName(name); !s.ok()) return s;
    }
    std::vector<LunPlan> plans;
    for (const LunSettings& lun : settings.luns) {
        LunPlan plan{lun, {}, {}};
        const std::string where = Where(settings, lun);
        if (!lun.name.empty()) {
            if (Status s = CheckName(lun.name); !s.ok()) {
                return Status::Fail(EINVAL, where + s.message());
            }
        }
        for (const std::string& text : lun.urls) {
            if (Status s = CheckIscsiScheme(text, "/target-iqn/lun"); !s.ok()) {
                return Status::Fail(EINVAL, where + s.message());
            }
            Result<IscsiUrl> url = ParseIscsiUrl(text);
            if (!url.ok()) return Status::Fail(EINVAL, where + url.status().message());
            plan.urls.push_back(std::move(url).value());
        }
        Result<std::string> secret = LoadChapSecret(lun.chap_secret_file);
        if (!secret.ok()) return Status::Fail(EINVAL, where + secret.status().message());
        plan.secrets.initiator = std::move(secret).value();
        for (const IscsiUrl& url : plan.urls) {
            if (!url.user.empty() && plan.secrets.initiator.empty()) {
                return Status::Fail(EINVAL, fmt::format("{}CHAP user '{}' needs a secret: "
                                                        "--chap-secret-file or ${}",
                                                        where, url.user, kChapSecretEnv));
            }
        }
        if (Status s = LoadTargetSecret(lun, plan); !s.ok()) {
            return Status::Fail(EINVAL, where + s.message());
        }
        plans.push_back(std::move(plan));
    }
    return plans;
}

bool Unreachable(const Status& status) {
    switch (status.code()) {
        case ECONNREFUSED:
        case ECONNRESET:
        case ETIMEDOUT:
        case EHOSTUNREACH:
        case ENETUNREACH:
        case ENOTCONN:
        case EIO:  // a login that failed without an answer lunfs knows
            return true;
        default:
            return false;
    }
}

Result<std::shared_ptr<IscsiPath>> OpenPath(const LunSettings& lun,
                                            const std::string& initiator_name, const IscsiUrl& url,
                                            const ChapSecrets& secrets,
                                            std::shared_ptr<ReservationKeys> keys) {
    IscsiPathOptions options = PathOptions(lun, initiator_name, url, secrets);
    options.reservation_keys = std::move(keys);
    return IscsiPath::Open(std::move(options));
}

Result<MountedLun> MakeMountedLun(std::string file, const LunSettings& settings,
                                  const ChapSecrets& secrets,
                                  std::vector<std::shared_ptr<IscsiPath>> paths, bool shared_lun,
                                  const std::string& initiator_name,
                                  const std::shared_ptr<Executor>& executor) {
    Result<std::shared_ptr<TargetFence>> fence =
        OpenFence(settings, shared_lun, initiator_name, secrets, paths);
    if (!fence.ok()) {
        return Status::Fail(
            fence.status().code(),
            fmt::format("{}: --fence {}: {}", file, settings.fence, fence.status().message()));
    }
    auto clock = std::make_shared<SteadyClock>();
    auto device = std::make_shared<MultipathDevice>(
        std::vector<std::shared_ptr<PathIo>>(paths.begin(), paths.end()),
        MakeEngineOptions(settings), clock, executor, fence.value());
    auto cache = std::make_shared<BlockCache>(device, MakeCacheOptions(settings), clock);
    return MountedLun{std::move(file),   std::move(fence).value(),
                      std::move(device), std::move(cache),
                      settings,          secrets};
}

Result<OpenedLuns> OpenLuns(const MountSettings& settings, std::vector<LunPlan> plans,
                            const std::shared_ptr<Executor>& executor) {
    // Every URL in order, with what its last attempt gave.
    struct Try {
        const LunPlan* plan;
        IscsiUrl url;
        std::shared_ptr<IscsiPath> path;  // null until it logged in
        Status error;
        size_t group = SIZE_MAX;  // index in `groups` once grouped
    };
    std::vector<Try> tries;
    for (const LunPlan& plan : plans) {
        for (const IscsiUrl& url : plan.urls) tries.push_back({&plan, url, nullptr, Status::Ok()});
    }
    // Tries `batch` all at once (a black hole costs one login timeout, not one per URL), and
    // returns the first answer that will not change by waiting.
    auto attempt = [&](const std::vector<Try*>& batch) -> Status {
        std::vector<std::future<Result<std::shared_ptr<IscsiPath>>>> opening;
        for (Try* t : batch) {
            opening.push_back(std::async(std::launch::async, [&settings, t] {
                return OpenPath(t->plan->settings, settings.initiator_name, t->url,
                                t->plan->secrets);
            }));
        }
        for (size_t i = 0; i < batch.size(); ++i) {
            Result<std::shared_ptr<IscsiPath>> path = opening[i].get();
            if (path.ok()) {
                batch[i]->path = std::move(path).value();
            } else {
                batch[i]->error = path.status();
            }
        }
        for (Try* t : batch) {
            if (!t->path && !Unreachable(t->error)) return t->error;
        }
        return Status::Ok();
    };
    auto answered = [&](const LunPlan* plan) {
        return std::any_of(tries.begin(), tries.end(),
                           [&](const Try& t) { return t.plan == plan && t.path; });
    };
    // The URLs of LUNs none of whose URLs logged in yet.
    auto missing = [&] {
        std::vector<Try*> out;
        for (Try& t : tries) {
            if (!t.path && !answered(t.plan)) out.push_back(&t);
        }
        return out;
    };
    std::vector<Try*> all;
    for (Try& t : tries) all.push_back(&t);
    if (Status s = attempt(all); !s.ok()) return s;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(settings.wait_s);
    std::chrono::seconds backoff = kRetryFirst;
    for (std::vector<Try*> left = missing(); !left.empty(); left = missing()) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) break;
        const auto pause = std::min<std::chrono::steady_clock::duration>(backoff, deadline - now);
        spdlog::info(
            "no URL of the LUN of {} answers yet ({}); trying again in {:.1f} s, for {} s "
            "more at most",
            left.front()->url.ToString(), left.front()->error.message(),
            std::chrono::duration<double>(pause).count(),
            std::chrono::ceil<std::chrono::seconds>(deadline - now).count());
        std::this_thread::sleep_for(pause);
        backoff = std::min(backoff * 2, kRetryMax);
        if (Status s = attempt(left); !s.ok()) return s;
    }

    std::vector<Group> groups;
    std::vector<std::pair<IscsiUrl, std::string>> seen;  // url, identity
    for (const LunPlan& plan : plans) {
        bool first = true;
        for (Try& t : tries) {
            if (t.plan != &plan || !t.path) continue;
            const IscsiUrl& url = t.url;
            const std::string& id = t.path->info().identity;
            if (id.empty()) {
                return Status::Fail(EPROTO,
                                    fmt::format("{} reports no identity (VPD 0x83 or 0x80); "
                                                "lunfs cannot tell its paths apart",
                                                url.ToString()));
            }
            for (const auto& [other, other_id] : seen) {
                if (other.target == url.target && other.lun == url.lun && other_id != id) {
                    return Status::Fail(
                        EINVAL, fmt::format("{} and {} name the same LUN but reach different "
                                            "ones: {} vs {}",
                                            other.ToString(), url.ToString(), other_id, id));
                }
            }
            seen.emplace_back(url, id);
            Result<Group*> group =
                GroupFor(groups, plan, *t.path, settings, settings.grouped_by_identity || first);
            if (!group.ok()) return group.status();
            if (group.value()->name.empty()) group.value()->name = fmt::format("lun{}", url.lun);
            group.value()->paths.push_back(t.path);
            t.group = static_cast<size_t>(group.value() - groups.data());
            group.value()->first =
                std::min(group.value()->first, static_cast<size_t>(&t - &tries[0]));
            first = false;
        }
    }

    // Where each URL that did not log in belongs.
    std::vector<PendingLun> pending;
    std::vector<const LunPlan*> pending_plans;  // by pending LUN
    for (size_t i = 0; i < tries.size(); ++i) {
        Try& t = tries[i];
        if (t.path) continue;
        Group* home = nullptr;
        if (!settings.grouped_by_identity) {
            for (Group& g : groups) {
                if (g.plan == t.plan) home = &g;
            }
            if (!home) {
                const size_t p = static_cast<size_t>(
                    std::find(pending_plans.begin(), pending_plans.end(), t.plan) -
                    pending_plans.begin());
                if (p == pending.size()) {
                    const std::string& name = t.plan->settings.name;
                    pending.push_back({name.empty() ? fmt::format("lun{}", t.url.lun) : name,
                                       t.plan->settings,
                                       t.plan->secrets,
                                       {}});
                    pending_plans.push_back(t.plan);
                }
                pending[p].urls.push_back({t.url, t.error});
                continue;
            }
        } else {
            for (const Try& u : tries) {
                if (u.path && u.url.target == t.url.target && u.url.lun == t.url.lun) {
                    home = &groups[u.group];
                }
            }
            // A URL given for the one LUN on the command line is one of its paths.
            if (!home && groups.size() == 1 && settings.names.size() <= 1) home = &groups[0];
            if (!home && !groups.empty()) {
                return Status::Fail(
                    t.error.code(),
                    fmt::format("{} cannot be reached ({}), and the URLs that answer reach {} "
                                "LUNs: which one it belongs to is unknown; mount them from a "
                                "config file ([[lun]] tables), or add it later with lunfs path add",
                                t.url.ToString(), t.error.message(), groups.size()));
            }
        }
        if (home) {
            home->unreached.push_back({t.url, t.error});
            home->first = std::min(home->first, i);
        }
    }
    if (groups.empty()) {
        const Status& first = tries.front().error;
        if (settings.wait_s == 0) return first;
        return Status::Fail(
            first.code(), fmt::format("{} (after waiting {} s)", first.message(), settings.wait_s));
    }
    if (settings.grouped_by_identity) {
        // Names go to the LUNs in the order of their first URL, answering or not.
        std::stable_sort(groups.begin(), groups.end(),
                         [](const Group& a, const Group& b) { return a.first < b.first; });
        for (size_t i = 0; i < groups.size() && i < settings.names.size(); ++i) {
            groups[i].name = settings.names[i];
        }
    }
    if (settings.names.size() > groups.size()) {
        return Status::Fail(EINVAL, fmt::format("{} names (--name) for {} LUN(s): give one per "
                                                "LUN, in URL order",
                                                settings.names.size(), groups.size()));
    }
    std::vector<std::string> files;
    for (const Group& g : groups) files.push_back(g.name);
    for (const PendingLun& p : pending) files.push_back(p.file);
    for (size_t i = 0; i < files.size(); ++i) {
        if (std::find(files.begin(), files.begin() + static_cast<ptrdiff_t>(i), files[i]) !=
            files.begin() + static_cast<ptrdiff_t>(i)) {
            return Status::Fail(
                EINVAL,
                fmt::format("two LUNs would both be named '{}'; name them with {}", files[i],
                            settings.grouped_by_identity ? "--name, once per LUN in URL order"
                                                         : "name = \"...\" in each [[lun]]"));
        }
    }
    OpenedLuns out;
    for (Group& g : groups) {
        spdlog::info("{}: LUN {} over {} path(s)", g.name, g.identity(), g.paths.size());
        for (const UnreachedUrl& u : g.unreached) {
            spdlog::warn("{}: {} cannot be reached ({}); trying it again in the background", g.name,
                         u.url.ToString(), u.error.message());
        }
        Result<MountedLun> mounted =
            MakeMountedLun(g.name, g.plan->settings, g.plan->secrets, std::move(g.paths),
                           settings.shared_lun, settings.initiator_name, executor);
        if (!mounted.ok()) return mounted.status();
        out.mounted.push_back(std::move(mounted).value());
        out.unreached.push_back(std::move(g.unreached));
    }
    for (const PendingLun& p : pending) {
        spdlog::warn(
            "{}: no URL of it can be reached ({}); the other LUNs are mounted, this one "
            "will be once a URL answers",
            p.file, p.urls.front().error.message());
    }
    out.pending = std::move(pending);
    return out;
}

Status RunPathsCommand(std::string_view text, const std::vector<MountedLun>& luns,
                       const std::string& initiator_name) {
    std::istringstream in{std::string(text)};
    std::string verb, file, url_text, extra;
    in >> verb >> file >> url_text;
    if ((verb != "add" && verb != "remove") || url_text.empty() || (in >> extra)) {
        return Status::Fail(EINVAL, "usage: add|remove FILE URL");
    }
    auto lun =
        std::find_if(luns.begin(), luns.end(), [&](const MountedLun& m) { return m.file == file; });
    if (lun == luns.end()) return Status::Fail(ENOENT, fmt::format("no LUN file '{}'", file));
    Result<IscsiUrl> url = ParseIscsiUrl(url_text);
    if (!url.ok()) return url.status();
    if (verb == "remove") return lun->device->RemovePath(url.value().ToString());
    Result<std::shared_ptr<IscsiPath>> path =
        OpenPath(lun->settings, initiator_name, url.value(), lun->secrets,
                 lun->fence ? lun->fence->KeysForNewPaths() : nullptr);
    if (!path.ok()) return path.status();
    if (lun->fence) lun->fence->Adopt(path.value());
    return lun->device->AddPath(std::move(path).value());
}

}  // namespace lunfs
