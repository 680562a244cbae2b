// The parts of discovery that need no network: REPORT LUNS data, target addresses, grouping.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "paths/discovery.h"

namespace lunfs {

Result<std::vector<int>> ParseReportLuns(Bytes data) {
    if (data.size() < 8) {
        return Status::Fail(EPROTO, "target sent a bad REPORT LUNS answer: shorter than 8 bytes");
    }
    const size_t length = static_cast<size_t>(data[0]) << 24 | static_cast<size_t>(data[1]) << 16 |
                          static_cast<size_t>(data[2]) << 8 | data[3];
    if (length % 8 != 0) {
        return Status::Fail(EPROTO, fmt::format("target sent a bad REPORT LUNS answer: list "
                                                "length {} is not a multiple of 8",
                                                length));
    }
    if (length > data.size() - 8) {
        return Status::Fail(EPROTO,
                            "target sent a bad REPORT LUNS answer: the list runs past "
                            "the data (allocation length too small?)");
    }
    std::vector<int> out;
    for (size_t at = 8; at < 8 + length; at += 8) {
        const uint8_t method = data[at] >> 6;
        if (method == 0) {  // peripheral device addressing: bus 0 only
            if ((data[at] & 0x3f) == 0) out.push_back(data[at + 1]);
        } else if (method == 1) {  // flat space addressing
            out.push_back((data[at] & 0x3f) << 8 | data[at + 1]);
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::string PortalOfTargetAddress(const std::string& address) {
    std::string hostport = address.substr(0, address.rfind(','));
    if (address.find(',') == std::string::npos) hostport = address;
    const size_t bracket = hostport.rfind(']');
    const size_t colon = hostport.rfind(':');
    const bool has_port =
        hostport.starts_with('[')
            ? (bracket != std::string::npos && colon != std::string::npos && colon > bracket)
            : colon != std::string::npos;
    return has_port ? hostport : fmt::format("{}:{}", hostport, kDefaultIscsiPort);
}

std::vector<DiscoveredLun> GroupPaths(const std::vector<PortalProbe>& probes) {
    std::vector<DiscoveredLun> out;
    for (const PortalProbe& probe : probes) {
        if (!probe.luns.ok()) continue;
        for (const LunReport& report : probe.luns.value()) {
            IscsiUrl url = probe.portal;
            url.target = probe.target;
            url.lun = report.lun;
            const std::string& id = report.info.identity;
            auto same = std::find_if(out.begin(), out.end(), [&](const DiscoveredLun& l) {
                return report.status.ok() && !id.empty() && l.info.identity == id;
            });
            if (same != out.end()) {
                same->paths.push_back(std::move(url));
                continue;
            }
            out.push_back({probe.target, report.lun, report.status, report.info, {std::move(url)}});
        }
    }
    std::stable_sort(out.begin(), out.end(), [](const DiscoveredLun& a, const DiscoveredLun& b) {
        return std::tie(a.target, a.lun) < std::tie(b.target, b.lun);
    });
    return out;
}

}  // namespace lunfs
