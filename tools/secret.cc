#include "tools/secret.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace lunfs {

Result<std::string> ReadSecretFile(const std::string& path) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return Status::Fail(errno,
                            fmt::format("CHAP secret file {}: {}", path, std::strerror(errno)));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return Status::Fail(EINVAL, fmt::format("CHAP secret file {} is not a regular file", path));
    }
    if ((st.st_mode & 0077) != 0) {
        close(fd);
        return Status::Fail(EPERM,
                            fmt::format("CHAP secret file {} has mode {:04o}; it must not be "
                                        "accessible by group or others (chmod 600)",
                                        path, st.st_mode & 07777));
    }
    if (st.st_uid != geteuid()) {
        close(fd);
        return Status::Fail(EPERM,
                            fmt::format("CHAP secret file {} is not owned by this user", path));
    }
    char buf[512];
    const ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n < 0) return Status::Fail(errno, fmt::format("CHAP secret file {}: read failed", path));
    std::string secret(buf, static_cast<size_t>(n));
    secret = secret.substr(0, secret.find('\n'));
    if (secret.empty())
        return Status::Fail(EINVAL, fmt::format("CHAP secret file {} is empty", path));
    if (secret.size() > 255)
        return Status::Fail(EINVAL,
                            fmt::format("CHAP secret in {} is longer than 255 bytes", path));
    return secret;
}

Result<std::string> LoadChapSecret(const std::string& path) {
    if (!path.empty()) return ReadSecretFile(path);
    const char* env = std::getenv(kChapSecretEnv);
    return std::string(env ? env : "");
}

}  // namespace lunfs
