#include "tools/stats_sampler.h"

#include <algorithm>

namespace lunfs {

StatsSampler::StatsSampler(std::function<std::vector<MountedLun>()> luns,
                           std::function<std::vector<PendingPath>()> pending,
                           std::chrono::milliseconds period)
    : luns_(std::move(luns)), pending_(std::move(pending)) {
    Sample();
    ticker_ = std::make_unique<Ticker>(period, [this] { Sample(); });
}

std::shared_ptr<const StatsSnapshot> StatsSampler::Latest() const {
    std::lock_guard lock(mu_);
    return latest_;
}

void StatsSampler::Sample() {
    auto next = std::make_shared<StatsSnapshot>();
    const auto now = std::chrono::steady_clock::now();
    for (const MountedLun& lun : luns_()) {
        next->luns.push_back(
            {lun.file, lun.device->info(), lun.device->Stats(), lun.cache->Stats()});
    }
    for (const PendingPath& p : pending_()) {
        PathStats stats;
        stats.name = p.url;
        stats.path_state = p.state;
        stats.slot_state = "pending";
        next->pending.emplace_back(p.file, std::move(stats));
    }
    const std::shared_ptr<const StatsSnapshot> previous = Latest();
    const double seconds = std::chrono::duration<double>(now - last_time_).count();
    if (previous && seconds > 0) {
        for (const StatsSnapshot::Lun& lun : next->luns) {
            const auto old_lun =
                std::find_if(previous->luns.begin(), previous->luns.end(),
                             [&](const StatsSnapshot::Lun& l) { return l.file == lun.file; });
            if (old_lun == previous->luns.end()) continue;
            for (const PathStats& p : lun.stats.paths) {
                for (const PathStats& q : old_lun->stats.paths) {
                    if (q.name != p.name) continue;
                    auto delta = [&](uint64_t now_bytes, uint64_t then_bytes) {
                        return now_bytes >= then_bytes
                                   ? static_cast<double>(now_bytes - then_bytes) / seconds
                                   : 0.0;
                    };
                    next->rates[{lun.file, p.name}] = {
                        delta(p.counters.bytes_read, q.counters.bytes_read),
                        delta(p.counters.bytes_written, q.counters.bytes_written)};
                }
            }
        }
    }
    last_time_ = now;
    std::lock_guard lock(mu_);
    latest_ = std::move(next);
}

}  // namespace lunfs
