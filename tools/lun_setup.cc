#include "tools/lun_setup.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <sstream>

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
    const size_t index = groups.size();
    std::string name = plan.settings.name;
    if (settings.grouped_by_identity && index < settings.names.size()) {
        name = settings.names[index];
    }
    groups.push_back({&plan, std::move(name), {}});
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

Result<std::vector<MountedLun>> OpenLuns(const MountSettings& settings, std::vector<LunPlan> plans,
                                         const std::shared_ptr<Executor>& executor) {
    std::vector<Group> groups;
    std::vector<std::pair<IscsiUrl, std::string>> seen;  // url, identity
    for (const LunPlan& plan : plans) {
        bool first = true;
        for (const IscsiUrl& url : plan.urls) {
            Result<std::shared_ptr<IscsiPath>> path = IscsiPath::Open(
                PathOptions(plan.settings, settings.initiator_name, url, plan.secrets));
            if (!path.ok()) return path.status();
            const std::string& id = path.value()->info().identity;
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
            Result<Group*> group = GroupFor(groups, plan, *path.value(), settings,
                                            settings.grouped_by_identity || first);
            if (!group.ok()) return group.status();
            if (group.value()->name.empty()) group.value()->name = fmt::format("lun{}", url.lun);
            group.value()->paths.push_back(std::move(path).value());
            first = false;
        }
    }
    if (settings.names.size() > groups.size()) {
        return Status::Fail(EINVAL, fmt::format("{} names (--name) for {} LUN(s): give one per "
                                                "LUN, in URL order",
                                                settings.names.size(), groups.size()));
    }
    std::vector<MountedLun> out;
    for (Group& g : groups) {
        if (std::any_of(out.begin(), out.end(),
                        [&](const MountedLun& m) { return m.file == g.name; })) {
            return Status::Fail(
                EINVAL,
                fmt::format("two LUNs would both be named '{}'; name them with {}", g.name,
                            settings.grouped_by_identity ? "--name, once per LUN in URL order"
                                                         : "name = \"...\" in each [[lun]]"));
        }
        spdlog::info("{}: LUN {} over {} path(s)", g.name, g.identity(), g.paths.size());
        Result<std::shared_ptr<TargetFence>> fence =
            OpenFence(g.plan->settings, settings.shared_lun, settings.initiator_name,
                      g.plan->secrets, g.paths);
        if (!fence.ok()) {
            return Status::Fail(fence.status().code(),
                                fmt::format("{}: --fence {}: {}", g.name, g.plan->settings.fence,
                                            fence.status().message()));
        }
        auto clock = std::make_shared<SteadyClock>();
        auto device = std::make_shared<MultipathDevice>(
            std::vector<std::shared_ptr<PathIo>>(g.paths.begin(), g.paths.end()),
            MakeEngineOptions(g.plan->settings), clock, executor, fence.value());
        auto cache =
            std::make_shared<BlockCache>(device, MakeCacheOptions(g.plan->settings), clock);
        out.push_back({g.name, std::move(fence).value(), std::move(device), std::move(cache),
                       g.plan->settings, g.plan->secrets});
    }
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
    IscsiPathOptions options =
        PathOptions(lun->settings, initiator_name, url.value(), lun->secrets);
    if (lun->fence) options.reservation_keys = lun->fence->KeysForNewPaths();
    Result<std::shared_ptr<IscsiPath>> path = IscsiPath::Open(std::move(options));
    if (!path.ok()) return path.status();
    if (lun->fence) lun->fence->Adopt(path.value());
    return lun->device->AddPath(std::move(path).value());
}

}  // namespace lunfs
