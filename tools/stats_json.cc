#include "tools/stats_json.h"

#include <nlohmann/json.hpp>

namespace lunfs {

std::string RenderStatsJson(const std::vector<MountedLun>& luns) {
    nlohmann::json out;
    out["luns"] = nlohmann::json::array();
    for (const MountedLun& lun : luns) {
        const LunInfo& info = lun.device->info();
        const PathIo& path = lun.device->path();
        const PathCounters& c = path.counters();
        nlohmann::json p = {
            {"url", path.name()},
            {"state", PathStateName(path.state())},
            {"reads", c.reads.load()},
            {"writes", c.writes.load()},
            {"bytes_read", c.bytes_read.load()},
            {"bytes_written", c.bytes_written.load()},
            {"syncs", c.syncs.load()},
            {"failures", c.failures.load()},
            {"in_flight", c.in_flight.load()},
        };
        out["luns"].push_back({
            {"file", lun.file},
            {"identity", info.identity},
            {"vendor", info.inquiry.vendor},
            {"product", info.inquiry.product},
            {"capacity_bytes", info.capacity.Bytes()},
            {"block_size", info.capacity.block_size},
            {"max_transfer_blocks", info.limits.max_transfer_blocks},
            {"extent_bytes", lun.device->extent_bytes()},
            {"paths", nlohmann::json::array({p})},
        });
    }
    return out.dump(2) + "\n";
}

}  // namespace lunfs
