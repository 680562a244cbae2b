#include "paths/scsi_pages.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

namespace lunfs {

namespace {

Status Bad(std::string_view what, std::string_view why) {
    return Status::Fail(EPROTO, fmt::format("target sent a bad {}: {}", what, why));
}

// Printable ASCII with the padding spaces and NULs around it removed.
std::string Text(Bytes b) {
    std::string out;
    for (uint8_t c : b) out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : ' ');
    const size_t first = out.find_first_not_of(' ');
    if (first == std::string::npos) return "";
    return out.substr(first, out.find_last_not_of(' ') - first + 1);
}

std::string Hex(Bytes b) {
    std::string out;
    for (uint8_t c : b) out += fmt::format("{:02x}", c);
    return out;
}

// Checks the 4-byte VPD header and returns the page body, cut to what the page length claims.
Result<Bytes> VpdBody(Bytes page, uint8_t code, std::string_view what) {
    if (page.size() < 4) return Bad(what, "shorter than its header");
    if (page[1] != code) return Bad(what, fmt::format("page code {:#04x}", page[1]));
    const size_t length = Be16(page, 2);
    if (length > page.size() - 4) return Bad(what, "page length runs past the data");
    return page.subspan(4, length);
}

// Mode parameter data after its header: `header` bytes, the device-specific parameter at
// `device_specific`, the mode data length (the bytes after itself) in `length_bytes` bytes at 0 and
// the block descriptor length at `bd_length_at` (SPC-5 7.5.6).
Result<CachingMode> ParseModeData(Bytes data, size_t header, size_t device_specific,
                                  size_t length_bytes, size_t bd_length_at) {
    constexpr std::string_view kWhat = "MODE SENSE answer";
    if (data.size() < header) return Bad(kWhat, "shorter than its header");
    const size_t claimed = (length_bytes == 2 ? Be16(data, 0) : data[0]) + length_bytes;
    // Bytes past the mode data length are not the target's answer; the header always counts.
    data = data.first(std::min(data.size(), std::max(claimed, header)));
    const size_t bd_length = length_bytes == 2 ? Be16(data, bd_length_at) : data[bd_length_at];
    CachingMode out;
    out.fua = (data[device_specific] & 0x10) != 0;
    if (header + bd_length > data.size()) return out;  // no room for pages: header only
    Bytes pages = data.subspan(header + bd_length);
    while (pages.size() >= 2) {
        const bool subpage_format = (pages[0] & 0x40) != 0;
        if (subpage_format && pages.size() < 4) break;
        const size_t size = subpage_format ? Be16(pages, 2) + 4 : pages[1] + 2u;
        if ((pages[0] & 0x3f) == 0x08 && !subpage_format && pages.size() >= 3 && size >= 3) {
            out.write_cache = (pages[2] & 0x04) != 0;
        }
        if (size > pages.size()) break;
        pages = pages.subspan(size);
    }
    return out;
}

}  // namespace

size_t VpdPageSize(Bytes page) { return page.size() < 4 ? 0 : Be16(page, 2) + size_t{4}; }

Result<CachingMode> ParseModeSense10(Bytes data) { return ParseModeData(data, 8, 3, 2, 6); }
Result<CachingMode> ParseModeSense6(Bytes data) { return ParseModeData(data, 4, 2, 1, 3); }

std::string Designator::ToString() const {
    Bytes v(value);
    switch (type) {
        case 1:
            return "t10." + Text(v);
        case 2:
            return "eui." + Hex(v);
        case 3:
            return "naa." + Hex(v);
        case 8:
            return "name." + Text(v);
        default:
            return fmt::format("type{}.{}", type, Hex(v));
    }
}

Result<StandardInquiry> ParseStandardInquiry(Bytes page) {
    if (page.size() < 36) return Bad("standard INQUIRY", "shorter than 36 bytes");
    StandardInquiry out;
    out.qualifier = page[0] >> 5;
    out.device_type = page[0] & 0x1f;
    out.vendor = Text(page.subspan(8, 8));
    out.product = Text(page.subspan(16, 16));
    out.revision = Text(page.subspan(32, 4));
    return out;
}

Result<std::string> ParseUnitSerialPage(Bytes page) {
    Result<Bytes> body = VpdBody(page, 0x80, "unit serial number page");
    if (!body.ok()) return body.status();
    return Text(body.value());
}

Result<std::vector<Designator>> ParseDeviceIdentificationPage(Bytes page) {
    constexpr std::string_view kWhat = "device identification page";
    Result<Bytes> body = VpdBody(page, 0x83, kWhat);
    if (!body.ok()) return body.status();
    Bytes rest = body.value();
    std::vector<Designator> out;
    while (!rest.empty()) {
        if (rest.size() < 4) return Bad(kWhat, "truncated designator header");
        const size_t length = rest[3];
        if (length > rest.size() - 4) return Bad(kWhat, "designator runs past the page");
        Designator d;
        d.code_set = rest[0] & 0x0f;
        d.association = (rest[1] >> 4) & 0x3;
        d.type = rest[1] & 0x0f;
        d.value.assign(rest.begin() + 4, rest.begin() + 4 + static_cast<ptrdiff_t>(length));
        out.push_back(std::move(d));
        rest = rest.subspan(4 + length);
    }
    return out;
}

Result<BlockLimits> ParseBlockLimitsPage(Bytes page) {
    Result<Bytes> body = VpdBody(page, 0xb0, "block limits page");
    if (!body.ok()) return body.status();
    Bytes b = body.value();
    BlockLimits out;
    // Offsets below are into the page body, which starts at byte 4 of the page (SBC-4 6.6.4).
    if (b.size() >= 12) {
        out.optimal_granularity_blocks = Be16(b, 2);
        out.max_transfer_blocks = Be32(b, 4);
        out.optimal_transfer_blocks = Be32(b, 8);
    }
    if (b.size() >= 20) out.max_unmap_blocks = Be32(b, 16);
    if (b.size() >= 24) out.max_unmap_descriptors = Be32(b, 20);
    if (b.size() >= 40) out.max_write_same_blocks = Be64(b, 32);
    return out;
}

Result<Provisioning> ParseProvisioningPage(Bytes page) {
    Result<Bytes> body = VpdBody(page, 0xb2, "logical block provisioning page");
    if (!body.ok()) return body.status();
    Bytes b = body.value();
    if (b.size() < 2) return Bad("logical block provisioning page", "shorter than 6 bytes");
    Provisioning out;
    out.unmap = (b[1] & 0x80) != 0;
    out.write_same_unmap = (b[1] & 0x40) != 0;
    out.unmapped_zero = (b[1] & 0x1c) != 0;  // LBPRZ, three bits since SBC-4
    return out;
}

Result<Capacity> ParseReadCapacity16(Bytes data) {
    if (data.size() < 32) return Bad("READ CAPACITY(16) answer", "shorter than 32 bytes");
    Capacity out;
    const uint64_t last_lba = Be64(data, 0);
    out.block_size = Be32(data, 8);
    out.thin = (data[14] & 0x80) != 0;
    out.unmapped_zero = (data[14] & 0x40) != 0;
    if (out.block_size < 512 || out.block_size > (1u << 20) ||
        (out.block_size & (out.block_size - 1)) != 0) {
        return Bad("READ CAPACITY(16) answer", fmt::format("block size {}", out.block_size));
    }
    if (last_lba == UINT64_MAX || last_lba + 1 > UINT64_MAX / out.block_size) {
        return Bad("READ CAPACITY(16) answer", "capacity overflows 64 bits");
    }
    out.blocks = last_lba + 1;
    return out;
}

std::string LunIdentity(const std::vector<Designator>& designators, const std::string& serial) {
    std::string out;
    for (uint8_t type : {uint8_t{3}, uint8_t{2}, uint8_t{8}, uint8_t{1}}) {
        for (const Designator& d : designators) {
            if (d.association != 0 || d.type != type || d.value.empty()) continue;
            if (!out.empty()) out += ',';
            out += d.ToString();
        }
    }
    if (out.empty() && !serial.empty()) out = "serial:" + serial;
    return out;
}

}  // namespace lunfs
