// CHAP secrets: read from a file only its owner can read, or from the environment; never from
// the command line, where every user can see them.
#pragma once

#include <string>

#include "core/status.h"

namespace lunfs {

inline constexpr const char* kChapSecretEnv = "LUNFS_CHAP_SECRET";

// The secret in `path` (first line, without the newline). Refuses a file that others can read or
// write, as OpenSSH does with private keys.
Result<std::string> ReadSecretFile(const std::string& path);

// The secret from `path` when given, else from $LUNFS_CHAP_SECRET, else empty.
Result<std::string> LoadChapSecret(const std::string& path);

}  // namespace lunfs
