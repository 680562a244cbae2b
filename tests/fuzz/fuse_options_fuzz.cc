// ParseFuseOptions (mount.fuse3's -o text) on any input, then each option applied as `lunfs
// mount` applies it: nothing crashes, each assignment names a known option with an origin of
// "-o NAME", and a refused value names that origin.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz.h"
#include "tools/mount_options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<lunfs::OptionAssignment> out;
    std::string config;
    lunfs::Status parsed = lunfs::ParseFuseOptions(text, out, config);
    if (!parsed.ok()) {
        LUNFS_FUZZ_CHECK(!parsed.message().empty());
        return 0;
    }
    lunfs::MountSettings settings;
    for (const lunfs::OptionAssignment& a : out) {
        LUNFS_FUZZ_CHECK(a.option != nullptr);
        LUNFS_FUZZ_CHECK(a.origin.starts_with("-o "));
        LUNFS_FUZZ_CHECK(a.option->key != "foreground");  // not a mount option
        lunfs::Status s = lunfs::ApplyOption(a, settings);
        LUNFS_FUZZ_CHECK(s.ok() || s.message().starts_with(a.origin + ": "));
    }
    LUNFS_FUZZ_CHECK(text.find("config=") != std::string_view::npos || config.empty());
    return 0;
}
