// ParseIscsiUrl on any bytes: never crashes, and what it accepts is within the limits and comes
// back the same through its canonical form.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "paths/iscsi_url.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    lunfs::Result<lunfs::IscsiUrl> url = lunfs::ParseIscsiUrl(text);
    if (!url.ok()) {
        LUNFS_FUZZ_CHECK(!url.status().message().empty());
        return 0;
    }
    const lunfs::IscsiUrl& u = url.value();
    LUNFS_FUZZ_CHECK(!u.host.empty() && !u.target.empty());
    LUNFS_FUZZ_CHECK(u.target.size() <= lunfs::kMaxIscsiNameLength);
    LUNFS_FUZZ_CHECK(u.lun >= 0 && u.lun <= lunfs::kMaxLun);
    LUNFS_FUZZ_CHECK(u.port != 0);
    LUNFS_FUZZ_CHECK(u.user.find_first_of("%:") == std::string::npos);
    lunfs::Result<lunfs::IscsiUrl> again = lunfs::ParseIscsiUrl(u.ToString());
    LUNFS_FUZZ_CHECK(again.ok() && again.value() == u);
    return 0;
}
