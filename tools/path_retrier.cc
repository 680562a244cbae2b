#include "tools/path_retrier.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace lunfs {

using SteadyTime = std::chrono::steady_clock::time_point;

// A LUN with URLs waiting. Its device is null while none of its URLs has logged in.
struct PathRetrier::Lun {
    std::string file;
    LunSettings settings;
    ChapSecrets secrets;
    std::shared_ptr<MultipathDevice> device;  // guarded by mu_
    std::shared_ptr<TargetFence> fence;       // guarded by mu_
};

struct PathRetrier::Entry {
    std::shared_ptr<Lun> lun;
    IscsiUrl url;
    std::string name;  // url.ToString(), as the engine names its paths
    // Guarded by mu_:
    std::string error;  // the last attempt's
    uint64_t attempts = 1;
    SteadyTime next;
    std::chrono::seconds backoff = kRetryFirst;
    bool refused = false;  // logged in, but not as a path of its LUN: not tried again
    bool done = false;     // joined its LUN, or removed
};

PathRetrier::PathRetrier(std::string initiator_name, bool shared_lun,
                         std::shared_ptr<Executor> executor)
    : initiator_name_(std::move(initiator_name)),
      shared_lun_(shared_lun),
      executor_(std::move(executor)) {}

PathRetrier::~PathRetrier() { Stop(); }

void PathRetrier::Add(const MountedLun& lun, const std::vector<UnreachedUrl>& urls) {
    if (urls.empty()) return;
    AddEntries(
        std::make_shared<Lun>(Lun{lun.file, lun.settings, lun.secrets, lun.device, lun.fence}),
        urls);
}

void PathRetrier::Add(const PendingLun& lun) {
    AddEntries(std::make_shared<Lun>(Lun{lun.file, lun.settings, lun.secrets, nullptr, nullptr}),
               lun.urls);
}

void PathRetrier::AddEntries(const std::shared_ptr<Lun>& lun,
                             const std::vector<UnreachedUrl>& urls) {
    std::lock_guard lock(mu_);
    for (const UnreachedUrl& u : urls) {
        auto e = std::make_shared<Entry>();
        e->lun = lun;
        e->url = u.url;
        e->name = u.url.ToString();
        e->error = u.error.message();
        e->next = std::chrono::steady_clock::now() + kRetryFirst;
        entries_.push_back(std::move(e));
    }
}

void PathRetrier::Start(LunUp lun_up) {
    lun_up_ = std::move(lun_up);
    std::lock_guard lock(mu_);
    for (const std::shared_ptr<Entry>& e : entries_) {
        threads_.emplace_back([this, e] { Run(e); });
    }
}

void PathRetrier::Stop() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) {
        if (t.joinable()) t.join();
    }
    threads_.clear();
}

bool PathRetrier::Remove(const std::string& file, const std::string& url) {
    std::lock_guard lock(mu_);
    for (const std::shared_ptr<Entry>& e : entries_) {
        if (!e->done && e->lun->file == file && e->name == url) {
            e->done = true;
            cv_.notify_all();
            return true;
        }
    }
    return false;
}

std::vector<PendingPath> PathRetrier::Pending() const {
    const SteadyTime now = std::chrono::steady_clock::now();
    std::vector<PendingPath> out;
    std::lock_guard lock(mu_);
    for (const std::shared_ptr<Entry>& e : entries_) {
        if (e->done) continue;
        PendingPath p;
        p.file = e->lun->file;
        p.url = e->name;
        p.state = e->refused ? "refused" : "down";
        p.error = e->error;
        p.attempts = e->attempts;
        p.next_attempt_in_s =
            e->refused ? -1 : std::max(0.0, std::chrono::duration<double>(e->next - now).count());
        p.lun_mounted = e->lun->device != nullptr;
        out.push_back(std::move(p));
    }
    return out;
}

void PathRetrier::Run(const std::shared_ptr<Entry>& e) {
    std::unique_lock lock(mu_);
    while (true) {
        cv_.wait_until(lock, e->next, [&] { return stop_ || e->done; });
        if (stop_ || e->done) return;
        if (std::chrono::steady_clock::now() < e->next) continue;
        std::shared_ptr<Lun> lun = e->lun;
        std::shared_ptr<ReservationKeys> keys =
            lun->fence ? lun->fence->KeysForNewPaths() : nullptr;
        lock.unlock();
        Status joined;
        bool answered = false;
        {
            Result<std::shared_ptr<IscsiPath>> path =
                OpenPath(lun->settings, initiator_name_, e->url, lun->secrets, keys);
            answered = path.ok();
            bool wanted = true;
            if (answered) {
                std::lock_guard check(mu_);
                wanted = !stop_ && !e->done;
            }
            if (!answered) {
                joined = path.status();
            } else if (wanted) {
                joined = Join(*lun, std::move(path).value());
            } else {
                joined = Status::Fail(ECANCELED, "no longer wanted");
            }
        }  // a path not handed on logs out here, without mu_
        lock.lock();
        ++e->attempts;
        if (stop_ || e->done) return;
        if (joined.ok()) {
            e->done = true;
            spdlog::info("{}: {} logged in after {} attempt(s) and joined the LUN", lun->file,
                         e->name, e->attempts);
            return;
        }
        e->error = joined.message();
        if (answered) {
            e->refused = true;
            spdlog::error("{}: {} refused: {}; not tried again (lunfs path add retries it)",
                          lun->file, e->name, e->error);
            return;
        }
        e->next = std::chrono::steady_clock::now() + e->backoff;
        spdlog::debug("{}: {} still cannot be reached ({}); next attempt in {} s", lun->file,
                      e->name, e->error, e->backoff.count());
        e->backoff = std::min(e->backoff * 2, kRetryMax);
    }
}

Status PathRetrier::Join(Lun& lun, std::shared_ptr<IscsiPath> path) {
    std::lock_guard join(join_mu_);
    std::shared_ptr<MultipathDevice> device;
    std::shared_ptr<TargetFence> fence;
    {
        std::lock_guard lock(mu_);
        device = lun.device;
        fence = lun.fence;
    }
    if (device) {
        if (fence) fence->Adopt(path);
        return device->AddPath(std::move(path));
    }
    if (path->info().identity.empty()) {
        return Status::Fail(EPROTO, fmt::format("{} reports no identity (VPD 0x83 or 0x80); lunfs "
                                                "cannot tell its paths apart",
                                                path->name()));
    }
    Result<MountedLun> made = MakeMountedLun(lun.file, lun.settings, lun.secrets, {std::move(path)},
                                             shared_lun_, initiator_name_, executor_);
    if (!made.ok()) return made.status();
    const MountedLun& mounted = made.value();
    if (Status s = lun_up_(mounted); !s.ok()) return s;
    spdlog::info("{}: LUN {} mounted now that {} answers", lun.file,
                 mounted.device->info().identity, mounted.device->Stats().paths.front().name);
    std::lock_guard lock(mu_);
    lun.device = mounted.device;
    lun.fence = mounted.fence;
    return Status::Ok();
}

}  // namespace lunfs
