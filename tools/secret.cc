#include "tools/secret.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace lunfs {

Result<std::string> ParseSecret(std::string_view contents, const std::string& path) {
    std::string_view line = contents.substr(0, contents.find('\n'));
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty())
        return Status::Fail(EINVAL, fmt::format("CHAP secret file {} is empty", path));
    if (line.size() > kMaxChapSecretLength) {
        return Status::Fail(EINVAL, fmt::format("CHAP secret in {} is longer than {} bytes", path,
                                                kMaxChapSecretLength));
    }
    for (char c : line) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            return Status::Fail(EINVAL,
                                fmt::format("CHAP secret in {} holds a control character", path));
        }
    }
    return std::string(line);
}

Result<std::string> ReadSecretFile(const std::string& path) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ELOOP) {
            return Status::Fail(ELOOP, fmt::format("CHAP secret file {} is a symbolic link", path));
        }
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
    char buf[kMaxChapSecretLength + 3];  // the longest secret, "\r\n", and one byte more
    const ssize_t n = read(fd, buf, sizeof(buf));
    const int read_errno = errno;
    close(fd);
    if (n < 0) {
        return Status::Fail(
            read_errno, fmt::format("CHAP secret file {}: {}", path, std::strerror(read_errno)));
    }
    return ParseSecret(std::string_view(buf, static_cast<size_t>(n)), path);
}

Result<std::string> LoadSecret(const std::string& path, const char* env) {
    if (!path.empty()) return ReadSecretFile(path);
    const char* value = std::getenv(env);
    if (!value || !*value) return std::string();
    return ParseSecret(value, fmt::format("${}", env));
}

Result<std::string> LoadChapSecret(const std::string& path) {
    return LoadSecret(path, kChapSecretEnv);
}

}  // namespace lunfs
