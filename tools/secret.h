// CHAP secrets: read from a file only its owner can read, or from the environment; never from
// the command line, where every user can see them.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace lunfs {

inline constexpr const char* kChapSecretEnv = "LUNFS_CHAP_SECRET";
// Mutual CHAP: the secret the target must prove it knows.
inline constexpr const char* kChapTargetSecretEnv = "LUNFS_CHAP_TARGET_SECRET";
inline constexpr size_t kMaxChapSecretLength = 255;

// The secret in a file's contents: its first line, without the line end ("\n" or "\r\n").
// Refuses an empty secret, one longer than kMaxChapSecretLength and one with control characters.
// `path` only names the file in messages; no message ever holds the secret.
Result<std::string> ParseSecret(std::string_view contents, const std::string& path);

// The secret in `path`. Refuses a file that is not a regular file (symbolic links included), is
// not owned by this user, or that group or others can access in any way, as OpenSSH does with
// private keys.
Result<std::string> ReadSecretFile(const std::string& path);

// The secret from `path` when given, else from the environment variable `env`, else empty.
Result<std::string> LoadSecret(const std::string& path, const char* env);

// LoadSecret(path, kChapSecretEnv).
Result<std::string> LoadChapSecret(const std::string& path);

}  // namespace lunfs
