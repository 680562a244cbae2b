// The URLs that could not log in when the mount was made, tried again in the background until
// they do. Each waits out its own backoff on a thread of its own (kRetryFirst doubling to
// kRetryMax, never given up), so that a black-holed portal, whose every attempt lasts a login
// timeout, delays no other. A path that logs in joins its LUN through MultipathDevice::AddPath,
// which refuses one that shows another identity or capacity: such a path is reported as refused
// and not tried again (as `lunfs path add` of it would be refused). A LUN none of whose URLs
// answered at mount time is built when its first URL logs in and handed to the mount, which
// shows its file; its other URLs then join it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "engine/executor.h"
#include "tools/lun_setup.h"
#include "tools/stats_json.h"

namespace lunfs {

// The LUNs a mount serves: those mounted at once, and those that came later. Read from any
// thread as a copy (a handful of shared pointers and settings).
class LunList {
  public:
    explicit LunList(std::vector<MountedLun> luns) : luns_(std::move(luns)) {}
    std::vector<MountedLun> Get() const {
        std::lock_guard lock(mu_);
        return luns_;
    }
    void Add(MountedLun lun) {
        std::lock_guard lock(mu_);
        luns_.push_back(std::move(lun));
    }

  private:
    mutable std::mutex mu_;
    std::vector<MountedLun> luns_;  // guarded by mu_
};

class PathRetrier {
  public:
    // Mounts a LUN whose first path just logged in (a pending one): checks it may be mounted and
    // makes its file appear. Not ok: the LUN is dropped and its URL reported as refused.
    using LunUp = std::function<Status(const MountedLun&)>;

    // `shared_lun`: the mount's --shared-lun, for the fence of a LUN built here.
    PathRetrier(std::string initiator_name, bool shared_lun, std::shared_ptr<Executor> executor);
    // Stops; waits for attempts under way, each bounded by its login timeout.
    ~PathRetrier();
    PathRetrier(const PathRetrier&) = delete;
    PathRetrier& operator=(const PathRetrier&) = delete;

    // URLs of a mounted LUN. Before Start().
    void Add(const MountedLun& lun, const std::vector<UnreachedUrl>& urls);
    // A LUN with no path yet. Before Start().
    void Add(const PendingLun& lun);
    // Starts the attempts; `lun_up` is called for pending LUNs, from the retrier's threads.
    void Start(LunUp lun_up);
    void Stop();

    // Forgets a URL still waiting (`lunfs path remove`, or a `path add` of it that succeeded);
    // says whether there was one.
    bool Remove(const std::string& file, const std::string& url);
    // What waits, for status: the LUNs' files with their pending URLs.
    std::vector<PendingPath> Pending() const;

  private:
    struct Lun;
    struct Entry;

    void AddEntries(const std::shared_ptr<Lun>& lun, const std::vector<UnreachedUrl>& urls);
    void Run(const std::shared_ptr<Entry>& entry);
    // Hands a path that logged in to its LUN, building the LUN if it has none yet.
    Status Join(Lun& lun, std::shared_ptr<IscsiPath> path);

    const std::string initiator_name_;
    const bool shared_lun_;
    const std::shared_ptr<Executor> executor_;
    LunUp lun_up_;  // set by Start(), before any thread

    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;                            // guarded by mu_
    std::vector<std::shared_ptr<Entry>> entries_;  // guarded by mu_
    std::vector<std::thread> threads_;             // Start() and Stop() only
    // One join at a time, so that a pending LUN is built once. Never taken with mu_ held.
    std::mutex join_mu_;
};

}  // namespace lunfs
