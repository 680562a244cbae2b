#include "tools/discover_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "paths/iscsi_url.h"
#include "tools/exit_codes.h"
#include "tools/secret.h"
#include "tools/user_input.h"

namespace lunfs {

namespace {

// The portal to discover: a LUN URL, a portal URL (no target) or host[:port].
Result<IscsiUrl> ParsePortal(std::string text) {
    if (Status s = CheckIscsiScheme(text, ""); !s.ok()) return s;
    if (!text.starts_with("iscsi://")) text = "iscsi://" + text;
    while (text.size() > 8 && text.back() == '/') text.pop_back();
    if (Result<IscsiUrl> full = ParseIscsiUrl(text); full.ok()) return full;
    const size_t slash = text.find('/', 8);
    if (slash != std::string::npos) return ParseIscsiUrl(text);  // its own error
    // A portal alone: borrow the URL parser's checks of user, host and port.
    Result<IscsiUrl> url = ParseIscsiUrl(text + "/iqn.2000-01.invalid:portal/0");
    if (!url.ok()) return url.status();
    url->target.clear();
    url->lun = 0;
    return url;
}

Result<IscsiUrl> PortalUrl(const IscsiUrl& discovery, const std::string& hostport,
                           const std::string& target) {
    Result<IscsiUrl> url = ParseIscsiUrl(fmt::format("iscsi://{}/{}/0", hostport, target));
    if (!url.ok()) return url.status();
    url->user = discovery.user;
    url->target.clear();
    return url;
}

nlohmann::json LunJson(const DiscoveredLun& l) {
    nlohmann::json designators = nlohmann::json::array();
    for (const Designator& d : l.info.designators) {
        if (d.association == 0) designators.push_back(d.ToString());
    }
    nlohmann::json paths = nlohmann::json::array();
    for (const IscsiUrl& u : l.paths) paths.push_back(u.ToString());
    const Capacity& c = l.info.capacity;
    return {{"target", l.target},
            {"lun", l.lun},
            {"type", DeviceTypeName(l.info.inquiry.device_type)},
            {"device_type", l.info.inquiry.device_type},
            {"vendor", l.info.inquiry.vendor},
            {"product", l.info.inquiry.product},
            {"revision", l.info.inquiry.revision},
            {"serial", l.info.serial},
            {"identity", l.info.identity},
            {"designators", designators},
            {"size_bytes", c.Bytes()},
            {"block_size", c.block_size},
            {"blocks", c.blocks},
            {"thin", c.thin},
            {"paths", paths},
            {"error", l.status.ok() ? nlohmann::json() : nlohmann::json(l.status.message())}};
}

void PrintTable(const std::vector<DiscoveredTarget>& targets,
                const std::vector<DiscoveredLun>& luns) {
    for (const DiscoveredTarget& t : targets) {
        std::string portals;
        for (const std::string& p : t.portals) portals += " " + p;
        fmt::print("{}\n  portals{}\n", t.name, portals);
        for (const DiscoveredLun& l : luns) {
            if (l.target != t.name) continue;
            const StandardInquiry& q = l.info.inquiry;
            std::string head = fmt::format("  LUN {}  {}", l.lun, DeviceTypeName(q.device_type));
            if (l.info.capacity.blocks > 0) {
                head += fmt::format("  {} ({} blocks of {} B)", FormatSize(l.info.capacity.Bytes()),
                                    l.info.capacity.blocks, l.info.capacity.block_size);
            }
            head += fmt::format("  {} {} {}", q.vendor, q.product, q.revision);
            if (!l.info.serial.empty()) head += "  serial " + l.info.serial;
            fmt::print("{}\n", head);
            if (!l.status.ok()) fmt::print("    error     {}\n", l.status.message());
            fmt::print("    identity  {}\n", l.info.identity.empty() ? "(none)" : l.info.identity);
            for (size_t i = 0; i < l.paths.size(); ++i) {
                fmt::print("    {:<9} {}\n", i == 0 ? fmt::format("paths {}", l.paths.size()) : "",
                           l.paths[i].ToString());
            }
            if (q.device_type == 0 && l.status.ok()) {
                std::string urls;
                for (const IscsiUrl& u : l.paths) urls += " " + u.ToString();
                fmt::print("    mount     lunfs mount MOUNTPOINT{}\n", urls);
            }
        }
    }
}

}  // namespace

std::string FormatSize(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 6) {
        v /= 1024;
        ++u;
    }
    if (u == 0 || v == static_cast<double>(static_cast<uint64_t>(v))) {
        return fmt::format("{} {}", static_cast<uint64_t>(v), units[u]);
    }
    return fmt::format("{:.1f} {}", v, units[u]);
}

std::string DeviceTypeName(uint8_t type) {
    switch (type) {
        case 0x00:
            return "disk";
        case 0x01:
            return "tape";
        case 0x05:
            return "cd/dvd";
        case 0x08:
            return "changer";
        case 0x0c:
            return "controller";
        case 0x0d:
            return "enclosure";
        default:
            return fmt::format("type {:#04x}", type);
    }
}

namespace {

// SendTargets at every discovery portal, merged: each target once, with every portal any of
// them named. Failures go to `errors`.
std::vector<DiscoveredTarget> DiscoverAll(const std::vector<IscsiUrl>& portals,
                                          const DiscoveryOptions& options, nlohmann::json& errors) {
    std::vector<DiscoveredTarget> out;
    for (const IscsiUrl& portal : portals) {
        Result<std::vector<DiscoveredTarget>> found = SendTargets(portal, options);
        if (!found.ok()) {
            std::fprintf(stderr, "lunfs: discovery at %s: %s\n", portal.Portal().c_str(),
                         found.status().message().c_str());
            errors.push_back({{"portal", portal.Portal()}, {"error", found.status().message()}});
            continue;
        }
        for (DiscoveredTarget& t : found.value()) {
            if (t.portals.empty()) t.portals.push_back(portal.Portal());
            auto same = std::find_if(out.begin(), out.end(),
                                     [&](const DiscoveredTarget& o) { return o.name == t.name; });
            if (same == out.end()) {
                out.push_back(std::move(t));
                continue;
            }
            for (std::string& p : t.portals) {
                if (std::find(same->portals.begin(), same->portals.end(), p) ==
                    same->portals.end()) {
                    same->portals.push_back(std::move(p));
                }
            }
        }
    }
    return out;
}

}  // namespace

int RunDiscover(const DiscoverCommandOptions& o) {
    std::vector<IscsiUrl> portals;
    for (const std::string& text : o.portals) {
        Result<IscsiUrl> portal = ParsePortal(text);
        if (!portal.ok()) {
            std::fprintf(stderr, "lunfs: %s\n", portal.status().message().c_str());
            return kExitBadInput;
        }
        portals.push_back(std::move(portal).value());
    }
    if (portals.empty()) {
        std::fprintf(stderr, "lunfs: give a portal to discover\n");
        return kExitBadInput;
    }
    Result<std::string> secret = LoadChapSecret(o.chap_secret_file);
    if (!secret.ok()) {
        std::fprintf(stderr, "lunfs: %s\n", secret.status().message().c_str());
        return kExitBadInput;
    }
    DiscoveryOptions options{o.initiator_name, secret.value(), o.timeout_s};
    nlohmann::json errors = nlohmann::json::array();
    std::vector<DiscoveredTarget> targets = DiscoverAll(portals, options, errors);
    if (errors.size() == portals.size()) return kExitFailed;
    std::vector<PortalProbe> probes;
    for (const DiscoveredTarget& t : targets) {
        for (const std::string& p : t.portals) {
            Result<IscsiUrl> url = PortalUrl(portals.front(), p, t.name);
            PortalProbe probe{url.ok() ? url.value() : portals.front(), t.name, url.status()};
            if (url.ok()) probe.luns = ProbeTarget(url.value(), t.name, options);
            if (!probe.luns.ok()) {
                std::fprintf(stderr, "lunfs: %s\n", probe.luns.status().message().c_str());
                errors.push_back(
                    {{"target", t.name}, {"portal", p}, {"error", probe.luns.status().message()}});
            }
            probes.push_back(std::move(probe));
        }
    }
    const std::vector<DiscoveredLun> luns = GroupPaths(probes);
    bool lun_errors = false;
    for (const DiscoveredLun& l : luns) lun_errors = lun_errors || !l.status.ok();
    if (o.json) {
        nlohmann::json doc{{"portals", nlohmann::json::array()},
                           {"targets", nlohmann::json::array()},
                           {"luns", nlohmann::json::array()},
                           {"errors", errors}};
        for (const IscsiUrl& p : portals) doc["portals"].push_back(p.PortalUrl());
        for (const DiscoveredTarget& t : targets) {
            doc["targets"].push_back({{"name", t.name}, {"portals", t.portals}});
        }
        for (const DiscoveredLun& l : luns) doc["luns"].push_back(LunJson(l));
        fmt::print("{}\n", doc.dump(2));
    } else {
        if (targets.empty()) fmt::print("no targets\n");
        PrintTable(targets, luns);
    }
    return errors.empty() && !lun_errors ? 0 : kExitFailed;
}

}  // namespace lunfs
