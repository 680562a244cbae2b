// Parsers for the SCSI data lunfs reads when it opens a path: standard INQUIRY, the VPD pages
// 0x80 (unit serial number), 0x83 (device identification), 0xB0 (block limits) and 0xB2 (logical
// block provisioning), READ CAPACITY(16) and MODE SENSE (the caching page). They take the raw bytes
// the target returned and trust none of them: a short, truncated or inconsistent page is an error
// value, never an out-of-bounds read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace lunfs {

using Bytes = std::span<const uint8_t>;

// Big-endian fields of SCSI data; the caller has checked that `at` leaves room for them.
inline uint32_t Be16(Bytes b, size_t at) { return static_cast<uint32_t>(b[at] << 8 | b[at + 1]); }
inline uint32_t Be32(Bytes b, size_t at) {
    return static_cast<uint32_t>(b[at]) << 24 | static_cast<uint32_t>(b[at + 1]) << 16 |
           static_cast<uint32_t>(b[at + 2]) << 8 | b[at + 3];
}
inline uint64_t Be64(Bytes b, size_t at) {
    return static_cast<uint64_t>(Be32(b, at)) << 32 | Be32(b, at + 4);
}

struct StandardInquiry {
    uint8_t qualifier = 0;    // 0: a LUN is connected here; 3: no LUN at this address
    uint8_t device_type = 0;  // 0: direct-access block device
    std::string vendor;       // trimmed
    std::string product;      // trimmed
    std::string revision;     // trimmed
};

struct Designator {
    uint8_t code_set = 0;     // 1 binary, 2 ASCII, 3 UTF-8
    uint8_t association = 0;  // 0 the logical unit, 1 the target port, 2 the target device
    uint8_t type = 0;         // 1 T10 vendor id, 2 EUI-64, 3 NAA, 8 SCSI name string, ...
    std::vector<uint8_t> value;

    // "naa.6001405...", "eui.…", "t10.…", "name.…", or "type<N>.<hex>".
    std::string ToString() const;
};

struct BlockLimits {
    uint32_t optimal_granularity_blocks = 0;  // 0: not reported
    uint32_t max_transfer_blocks = 0;         // 0: no limit reported
    uint32_t optimal_transfer_blocks = 0;     // 0: not reported
    uint32_t max_unmap_blocks = 0;            // per UNMAP command; 0: UNMAP not supported
    uint32_t max_unmap_descriptors = 0;       // block descriptors per UNMAP command
    uint64_t max_write_same_blocks = 0;       // 0: no limit reported
};

struct Capacity {
    uint64_t blocks = 0;         // number of logical blocks (last LBA + 1)
    uint32_t block_size = 0;     // bytes
    bool thin = false;           // LBPME: logical block provisioning enabled
    bool unmapped_zero = false;  // LBPRZ: unmapped blocks read as zeros
    uint64_t Bytes() const { return blocks * block_size; }
};

// What the logical block provisioning page (0xB2) offers.
struct Provisioning {
    bool unmap = false;             // LBPU: UNMAP is supported
    bool write_same_unmap = false;  // LBPWS: WRITE SAME(16) with the UNMAP bit is supported
    bool unmapped_zero = false;     // LBPRZ: unmapped blocks read as zeros
};

// What MODE SENSE says about write caching: DPOFUA from the mode parameter header's
// device-specific parameter, WCE from the caching mode page (0x08) when the answer holds it.
struct CachingMode {
    bool fua = false;                 // DPOFUA: the LUN honours FUA (and DPO)
    std::optional<bool> write_cache;  // WCE; empty when the caching page is missing
};

// The size in bytes a VPD page says it has (its 4-byte header included), 0 when `page` is shorter
// than the header. More than `page.size()` means it was cut at the allocation length: read it
// again with this much.
size_t VpdPageSize(Bytes page);

Result<StandardInquiry> ParseStandardInquiry(Bytes page);
Result<std::string> ParseUnitSerialPage(Bytes page);
Result<std::vector<Designator>> ParseDeviceIdentificationPage(Bytes page);
Result<BlockLimits> ParseBlockLimitsPage(Bytes page);
Result<Provisioning> ParseProvisioningPage(Bytes page);
Result<Capacity> ParseReadCapacity16(Bytes data);
// MODE SENSE(10) / MODE SENSE(6) parameter data: the header, block descriptors, mode pages.
Result<CachingMode> ParseModeSense10(Bytes data);
Result<CachingMode> ParseModeSense6(Bytes data);

// The identity of a logical unit, the same through every port that reaches it: all the
// logical-unit designators of page 0x83, NAA first, then EUI-64, SCSI name and T10 vendor id,
// joined by ','; else "serial:<unit serial number>"; else empty. All of them, not only the best:
// some targets (tgtd among them) reuse one NAA value for different LUNs.
std::string LunIdentity(const std::vector<Designator>& designators, const std::string& serial);

}  // namespace lunfs
