// ClassifyScsi on any status and sense: every outcome is ok with no errno, or a failure with an
// errno and a message that names the command.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "paths/scsi_status.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 7) return 0;
    uint32_t status;
    std::memcpy(&status, data, sizeof(status));
    lunfs::Sense sense;
    sense.key = data[4] & 0x0f;
    sense.asc = data[5];
    sense.ascq = data[6];
    const lunfs::Status s = lunfs::ClassifyScsi(status, sense, "fuzzed command");
    if (s.ok()) {
        LUNFS_FUZZ_CHECK(s.code() == 0);
    } else {
        LUNFS_FUZZ_CHECK(s.code() != 0 && !s.message().empty());
        LUNFS_FUZZ_CHECK(s.message().find("fuzzed command") != std::string::npos);
    }
    (void)lunfs::IsCapacityChanged(sense);
    return 0;
}
