// ParseSecret on any file contents: what it accepts is one line of printable bytes, at most
// kMaxChapSecretLength long, and no message ever holds the secret.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/fuzz.h"
#include "tools/secret.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view contents(reinterpret_cast<const char*>(data), size);
    lunfs::Result<std::string> secret = lunfs::ParseSecret(contents, "fuzzed-file");
    if (!secret.ok()) {
        const std::string& message = secret.status().message();
        LUNFS_FUZZ_CHECK(message.find("fuzzed-file") != std::string::npos);
        const std::string_view line = contents.substr(0, contents.find('\n'));
        LUNFS_FUZZ_CHECK(line.size() < 8 || message.find(line) == std::string::npos);
        return 0;
    }
    const std::string& s = secret.value();
    LUNFS_FUZZ_CHECK(!s.empty() && s.size() <= lunfs::kMaxChapSecretLength);
    for (char c : s) LUNFS_FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
    LUNFS_FUZZ_CHECK(contents.starts_with(s));
    return 0;
}
