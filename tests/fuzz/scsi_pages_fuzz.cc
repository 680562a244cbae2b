// The SCSI page parsers on any bytes: never read out of bounds (AddressSanitizer watches), and
// what they accept is consistent.
#include <cstddef>
#include <cstdint>

#include "paths/scsi_pages.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const lunfs::Bytes page(data, size);
    if (auto r = lunfs::ParseStandardInquiry(page); r.ok()) {
        LUNFS_FUZZ_CHECK(r.value().vendor.size() <= 8 && r.value().product.size() <= 16);
    }
    std::string serial;
    if (auto r = lunfs::ParseUnitSerialPage(page); r.ok()) {
        serial = r.value();
        LUNFS_FUZZ_CHECK(serial.size() + 4 <= size);
    }
    if (auto r = lunfs::ParseDeviceIdentificationPage(page); r.ok()) {
        size_t total = 0;
        for (const lunfs::Designator& d : r.value()) {
            total += 4 + d.value.size();
            (void)d.ToString();
        }
        LUNFS_FUZZ_CHECK(total + 4 <= size);
        (void)lunfs::LunIdentity(r.value(), serial);
    }
    (void)lunfs::ParseBlockLimitsPage(page);
    if (auto r = lunfs::ParseReadCapacity16(page); r.ok()) {
        const lunfs::Capacity& c = r.value();
        LUNFS_FUZZ_CHECK(c.block_size >= 512 && (c.block_size & (c.block_size - 1)) == 0);
        LUNFS_FUZZ_CHECK(c.blocks != 0 && c.blocks <= UINT64_MAX / c.block_size);
    }
    return 0;
}
