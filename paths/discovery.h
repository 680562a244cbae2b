// iSCSI discovery: what a portal offers. SendTargets lists the targets and their portals; a
// login to each portal of each target reads its LUNs (REPORT LUNS) and each LUN's INQUIRY, VPD
// 0x80 and 0x83 and READ CAPACITY(16); portals whose LUNs show one identity are paths to it.
//
// Everything here is synchronous and meant for command-line tools: each step has its own
// deadline, and no session stays open once a call returns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "paths/iscsi_url.h"
#include "paths/path_io.h"

namespace lunfs {

struct DiscoveryOptions {
    std::string initiator_name = "iqn.2026-11.io.lunfs:initiator";
    std::string chap_secret;  // for the portal URL's user, when it has one
    int timeout_s = 10;       // each connect, login and command
};

struct DiscoveredTarget {
    std::string name;                  // target IQN
    std::vector<std::string> portals;  // "host:port" as SendTargets gave them (TPGT dropped)
};

// SendTargets=All on a discovery session to `portal` (its host, port and user; target and LUN
// ignored).
Result<std::vector<DiscoveredTarget>> SendTargets(const IscsiUrl& portal,
                                                  const DiscoveryOptions& options);

// One LUN as one portal shows it.
struct LunReport {
    int lun = 0;
    Status status;  // why it could not be read; the fields below are then partial
    LunInfo info;   // inquiry, serial, designators, identity; capacity for disks
};

// Logs in to `target` at `portal` (iscsi://[user@]host:port) and reads every LUN REPORT LUNS
// lists. Fails when the login fails (refused, unreachable, no such target).
Result<std::vector<LunReport>> ProbeTarget(const IscsiUrl& portal, const std::string& target,
                                           const DiscoveryOptions& options);

// What discovery found: per LUN identity, the URLs that reach it.
struct DiscoveredLun {
    std::string target;
    int lun = 0;                  // its number at the first portal
    Status status;                // why it could not be read (at the first portal)
    LunInfo info;                 // as the first portal showed it
    std::vector<IscsiUrl> paths;  // one per portal that reaches it, in portal order
};

struct PortalProbe {
    IscsiUrl portal;  // iscsi://[user@]host:port
    std::string target;
    Result<std::vector<LunReport>> luns = Status::Fail(ENODATA, "not probed");
};

// Groups probes into LUNs: LUN reports with one identity are one LUN, whatever their portal (or
// target). Reports without an identity, and LUNs that could not be read, stay alone. Order: by
// target, then LUN number.
std::vector<DiscoveredLun> GroupPaths(const std::vector<PortalProbe>& probes);

// Parses REPORT LUNS parameter data: the LUN numbers of peripheral and flat addressing (other
// addressing methods are skipped). Fails on a truncated list.
Result<std::vector<int>> ParseReportLuns(Bytes data);

// "host:port" from a SendTargets TargetAddress ("10.0.0.1:3260,1", "[fd00::1]:3260,1"), with the
// default port added where it is missing.
std::string PortalOfTargetAddress(const std::string& address);

}  // namespace lunfs
