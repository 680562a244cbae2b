#include "tools/stats_json.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "tools/logging.h"
#include "tools/stats_sampler.h"

namespace lunfs {

namespace {

nlohmann::json CacheJson(const CacheStats& c) {
    return {
        {"mode", c.mode},
        {"capacity_bytes", c.capacity_bytes},
        {"cached_bytes", c.cached_bytes},
        {"dirty_bytes", c.dirty_bytes},
        {"read_hit_bytes", c.read_hit_bytes},
        {"read_miss_bytes", c.read_miss_bytes},
        {"readahead_bytes", c.readahead_bytes},
        {"written_back_bytes", c.written_back_bytes},
        {"writeback_errors", c.writeback_errors},
        {"evicted_bytes", c.evicted_bytes},
    };
}

// A path that has not logged in: the counters of one that did nothing, and why.
nlohmann::json PendingJson(const PendingPath& p) {
    nlohmann::json out = {
        {"url", p.url},  {"state", p.state}, {"use", "pending"},
        {"priority", 0}, {"error", p.error}, {"attempts", p.attempts},
    };
    if (p.next_attempt_in_s >= 0) {
        out["next_attempt_in_s"] = std::round(p.next_attempt_in_s * 10) / 10;
    }
    for (const char* zero :
         {"reads", "writes", "bytes_read", "bytes_written", "syncs", "discards", "in_flight",
          "in_flight_bytes", "latency_ewma_us", "latency_p99_us", "throughput_estimate_bps",
          "read_bps", "write_bps", "retries", "failures", "resets", "path_failures"}) {
        out[zero] = 0;
    }
    return out;
}

}  // namespace

std::string RenderStatsJson(const std::vector<MountedLun>& luns, const RateTable& rates,
                            const std::string& metrics_address,
                            const std::vector<PendingPath>& pending) {
    nlohmann::json out;
    out["pid"] = getpid();
    out["metrics"] = metrics_address;
    out["log"] = LogDestination();
    out["luns"] = nlohmann::json::array();
    for (const MountedLun& lun : luns) {
        const LunStats st = lun.device->Stats();
        const LunInfo& info = lun.device->info();
        nlohmann::json paths = nlohmann::json::array();
        for (const PathStats& p : st.paths) {
            const auto rate = rates.find({lun.file, p.name});
            const PathRate r = rate == rates.end() ? PathRate{} : rate->second;
            paths.push_back({
                {"url", p.name},
                {"state", p.path_state},
                {"use", p.slot_state},
                {"rejoins_in_ms",
                 std::chrono::duration_cast<std::chrono::milliseconds>(p.rejoin_in).count()},
                {"priority", p.priority},
                {"reads", p.counters.reads},
                {"writes", p.counters.writes},
                {"bytes_read", p.counters.bytes_read},
                {"bytes_written", p.counters.bytes_written},
                {"syncs", p.counters.syncs},
                {"discards", p.counters.discards},
                {"in_flight", p.in_flight},
                {"in_flight_bytes", p.in_flight_bytes},
                {"latency_ewma_us", static_cast<uint64_t>(p.latency_ewma_us)},
                {"latency_p99_us", static_cast<uint64_t>(p.latency_p99_us)},
                {"throughput_estimate_bps", static_cast<uint64_t>(p.bytes_per_second)},
                {"read_bps", static_cast<uint64_t>(r.read_bps)},
                {"write_bps", static_cast<uint64_t>(r.write_bps)},
                {"retries", p.counters.retries},
                {"failures", p.counters.failures},
                {"resets", p.counters.resets},
                {"path_failures", p.counters.path_failures},
            });
        }
        for (const PendingPath& p : pending) {
            if (p.file == lun.file && p.lun_mounted) paths.push_back(PendingJson(p));
        }
        out["luns"].push_back({
            {"file", lun.file},
            {"identity", st.identity},
            {"vendor", info.inquiry.vendor},
            {"product", info.inquiry.product},
            {"capacity_bytes", st.capacity},
            {"block_size", st.block_size},
            {"read_only", lun.settings.read_only},
            {"policy", st.policy},
            {"requests", st.requests},
            {"failed_requests", st.failed_requests},
            {"queued_extents", st.queued_extents},
            {"fence",
             {{"mode", st.fence_mode},
              {"why", st.fence_why},
              {"confirmed", st.fences},
              {"failures", st.fence_failures},
              {"fenced_ranges", st.fenced_ranges}}},
            {"cache", CacheJson(lun.cache->Stats())},
            {"paths", paths},
        });
        // The cluster key `lunfs reservation register` put on every path, when there is one.
        if (const uint64_t key = lun.fence ? lun.fence->host_key() : 0; key != 0) {
            out["luns"].back()["fence"]["host_key"] = fmt::format("{:#018x}", key);
        }
    }
    out["pending_luns"] = nlohmann::json::array();
    for (const PendingPath& p : pending) {
        if (p.lun_mounted) continue;
        nlohmann::json* lun = nullptr;
        for (nlohmann::json& l : out["pending_luns"]) {
            if (l["file"] == p.file) lun = &l;
        }
        if (!lun) {
            out["pending_luns"].push_back({{"file", p.file}, {"paths", nlohmann::json::array()}});
            lun = &out["pending_luns"].back();
        }
        (*lun)["paths"].push_back(PendingJson(p));
    }
    return out.dump(2) + "\n";
}

}  // namespace lunfs
