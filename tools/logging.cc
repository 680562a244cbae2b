#include "tools/logging.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace lunfs {

namespace {

std::mutex g_destination_mu;
std::string g_destination = "stderr";

// "/mnt/san" -> "mnt-san"; "/" -> "root".
std::string FileNameFor(const std::string& mountpoint) {
    char buf[PATH_MAX];
    std::string path = realpath(mountpoint.c_str(), buf) ? std::string(buf) : mountpoint;
    while (path.starts_with('/')) path.erase(0, 1);
    if (path.empty()) return "root";
    for (char& c : path) {
        if (c == '/') c = '-';
    }
    return path;
}

// Creates `dir` (and its parents) with `mode`; true when it is a writable directory.
bool MakeDir(const std::string& dir, mode_t mode) {
    for (size_t at = dir.find('/', 1); at != std::string::npos; at = dir.find('/', at + 1)) {
        mkdir(dir.substr(0, at).c_str(), mode);
    }
    mkdir(dir.c_str(), mode);
    struct stat st;
    return stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && access(dir.c_str(), W_OK) == 0;
}

std::vector<std::string> LogDirs() {
    if (geteuid() == 0) return {"/var/log/lunfs", fmt::format("/tmp/lunfs-{}", geteuid())};
    std::vector<std::string> dirs;
    const char* state = std::getenv("XDG_STATE_HOME");
    const char* home = std::getenv("HOME");
    if (state && *state == '/') dirs.push_back(std::string(state) + "/lunfs");
    if (home && *home == '/') dirs.push_back(std::string(home) + "/.local/state/lunfs");
    dirs.push_back(fmt::format("/tmp/lunfs-{}", geteuid()));
    return dirs;
}

}  // namespace

Status ValidateLogLevel(const std::string& level) {
    if (spdlog::level::from_str(level) == spdlog::level::off && level != "off") {
        return Status::Fail(EINVAL, fmt::format("unknown log level '{}' (use trace, debug, info, "
                                                "warn, error, critical or off)",
                                                level));
    }
    return Status::Ok();
}

bool SyslogAvailable() {
    const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, "/dev/log", sizeof(addr.sun_path) - 1);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    return ok;
}

Result<std::string> FallbackLogFile(const std::string& mountpoint) {
    for (const std::string& dir : LogDirs()) {
        if (!MakeDir(dir, geteuid() == 0 ? 0755 : 0700)) continue;
        const std::string file = fmt::format("{}/{}.log", dir, FileNameFor(mountpoint));
        const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0) continue;
        close(fd);
        return file;
    }
    return Status::Fail(EACCES,
                        "there is no syslog (/dev/log) and no log directory lunfs can "
                        "write: give --log-file FILE");
}

Result<std::string> ChooseLogFile(bool foreground, const std::string& file,
                                  const std::string& mountpoint) {
    if (foreground || !file.empty() || SyslogAvailable()) return file;
    Result<std::string> fallback = FallbackLogFile(mountpoint);
    if (fallback.ok()) {
        std::fprintf(stderr, "lunfs: no syslog here (/dev/log): the daemon logs to %s\n",
                     fallback.value().c_str());
    }
    return fallback;
}

void SetUpLogging(const std::string& level, bool foreground, const std::string& file) {
    std::shared_ptr<spdlog::logger> logger;
    std::string destination;
    if (!file.empty()) {
        logger = spdlog::basic_logger_mt("lunfs", file);
        destination = file;
    } else if (foreground) {
        logger = spdlog::stderr_color_mt("lunfs");
        destination = "stderr";
    } else {
        logger = spdlog::syslog_logger_mt("lunfs", "lunfs", LOG_PID, LOG_DAEMON);
        destination = "syslog";
    }
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
    std::lock_guard lock(g_destination_mu);
    g_destination = destination;
}

std::string LogDestination() {
    std::lock_guard lock(g_destination_mu);
    return g_destination;
}

}  // namespace lunfs
