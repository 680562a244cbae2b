// ParseMountConfig on any text, then every option it read applied as `lunfs mount` applies
// them: nothing crashes, every error names the file and its line ("fuzzed.toml:12: ..."), and
// what is accepted has at least one [[lun]], each with URLs that parse.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "paths/iscsi_url.h"
#include "tests/fuzz/fuzz.h"
#include "tools/mount_config.h"

namespace {

// "fuzzed.toml:N: ..." with N a line number.
bool NamesFileAndLine(const std::string& message) {
    constexpr std::string_view kFile = "fuzzed.toml:";
    if (!message.starts_with(kFile)) return false;
    size_t at = kFile.size();
    const size_t digits = at;
    while (at < message.size() && std::isdigit(static_cast<unsigned char>(message[at]))) ++at;
    return at > digits && at < message.size() && message[at] == ':';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    lunfs::Result<lunfs::MountConfig> config = lunfs::ParseMountConfig(text, "fuzzed.toml");
    if (!config.ok()) {
        LUNFS_FUZZ_CHECK(NamesFileAndLine(config.status().message()));
        return 0;
    }
    LUNFS_FUZZ_CHECK(!config.value().luns.empty());
    lunfs::MountSettings settings;
    for (const lunfs::OptionAssignment& a : config.value().options) {
        LUNFS_FUZZ_CHECK(a.option != nullptr);
        lunfs::Status s = lunfs::ApplyOption(a, settings);
        LUNFS_FUZZ_CHECK(s.ok() || NamesFileAndLine(s.message()));
    }
    for (const lunfs::MountConfig::Lun& lun : config.value().luns) {
        LUNFS_FUZZ_CHECK(!lun.urls.empty());
        for (const std::string& url : lun.urls) LUNFS_FUZZ_CHECK(lunfs::ParseIscsiUrl(url).ok());
        lunfs::LunSettings one = settings.defaults;
        for (const lunfs::OptionAssignment& a : lun.options) {
            lunfs::Status s = lunfs::ApplyLunOption(a, one);
            LUNFS_FUZZ_CHECK(s.ok() || NamesFileAndLine(s.message()));
        }
    }
    return 0;
}
