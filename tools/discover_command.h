// `lunfs discover`: what an iSCSI portal offers (targets, portals, LUNs, and which portals are
// paths to one LUN), as a table or JSON.
#pragma once

#include <string>
#include <vector>

#include "paths/discovery.h"

namespace lunfs {

struct DiscoverCommandOptions {
    // iscsi://[user@]host[:port], or host[:port]. Some targets (tgtd among them) answer
    // SendTargets with only the portal that was asked: give every portal to see every path.
    std::vector<std::string> portals;
    bool json = false;
    std::string chap_secret_file;
    std::string initiator_name = "iqn.2026-11.io.lunfs:initiator";
    int timeout_s = 10;
};

// Exit code: 0 when every portal of every target and every LUN could be read; 1 when discovery
// failed, a portal could not be logged in to or a LUN not read (what was found is still
// printed); 2 for bad input.
int RunDiscover(const DiscoverCommandOptions& options);

// "256 MiB", "1.5 GiB": sizes as people read them (binary units).
std::string FormatSize(uint64_t bytes);

// What SCSI calls the peripheral device type: "disk", "controller", ..., "type 0x1f".
std::string DeviceTypeName(uint8_t type);

}  // namespace lunfs
