#include "tools/mount_guard.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cache/block_cache.h"
#include "engine/multipath_device.h"

namespace lunfs {

namespace {

std::string ReadAll(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& field) {
    std::string out;
    for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size()) {
            const std::string oct = field.substr(i + 1, 3);
            if (oct.find_first_not_of("01234567") == std::string::npos) {
                out.push_back(static_cast<char>(std::stoi(oct, nullptr, 8)));
                i += 3;
                continue;
            }
        }
        out.push_back(field[i]);
    }
    return out;
}

std::string RealPath(const std::string& path) {
    char buf[PATH_MAX];
    return realpath(path.c_str(), buf) ? std::string(buf) : path;
}

// Another mount's control file, read by a child process so that a daemon that does not answer
// (hung, stopped) costs `limit`, never a hang: the child, blocked in the FUSE read, is killed.
constexpr int kControlReadLimitMs = 2000;
std::optional<std::string> ReadControlFile(const std::string& path) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
    const pid_t child = fork();
    if (child < 0) {
        close(fds[0]);
        close(fds[1]);
        return std::nullopt;
    }
    if (child == 0) {  // only async-signal-safe calls from here
        const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) _exit(0);  // no such file: nothing to tell, and an answer
        char buf[4096];
        ssize_t n = 0;
        while ((n = read(fd, buf, sizeof buf)) > 0) {
            if (write(fds[1], buf, static_cast<size_t>(n)) != n) _exit(1);
        }
        _exit(n == 0 ? 0 : 1);
    }
    close(fds[1]);
    std::string out;
    bool complete = false;
    for (int waited = 0; waited < kControlReadLimitMs;) {
        pollfd p{fds[0], POLLIN, 0};
        const int r = poll(&p, 1, 100);
        if (r == 0) {
            waited += 100;
            continue;
        }
        char buf[4096];
        const ssize_t n = r > 0 ? read(fds[0], buf, sizeof buf) : -1;
        if (n > 0) {
            out.append(buf, static_cast<size_t>(n));
            continue;
        }
        complete = n == 0;
        break;
    }
    close(fds[0]);
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    const bool read_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!complete || !read_ok) return std::nullopt;
    return out;
}

int PidOf(const std::string& mountpoint) {
    const std::optional<std::string> text = ReadControlFile(mountpoint + "/.lunfs/pid");
    return text ? std::atoi(text->c_str()) : 0;
}

std::string Described(const MountedIdentity& m) {
    return fmt::format("{} on {} (lunfs pid {}, --cache {})", m.file, m.mountpoint, m.pid, m.cache);
}

}  // namespace

std::vector<std::string> LunfsMountpoints(const std::string& mountinfo) {
    std::vector<std::string> out;
    std::istringstream lines(mountinfo);
    std::string line;
    while (std::getline(lines, line)) {
        const size_t dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        std::istringstream after(line.substr(dash + 3));
        std::string type;
        after >> type;
        if (type != "fuse.lunfs") continue;
        std::istringstream before(line.substr(0, dash));
        std::string id, parent, dev, root, point;
        if (before >> id >> parent >> dev >> root >> point) out.push_back(Unescape(point));
    }
    return out;
}

Status CheckMountpointFree(const std::string& mountpoint) {
    const std::string real = RealPath(mountpoint);
    for (const std::string& p : LunfsMountpoints(ReadAll("/proc/self/mountinfo"))) {
        if (p != real) continue;
        const int pid = PidOf(p);
        return Status::Fail(
            EBUSY,
            fmt::format("{} already holds a lunfs mount{}: unmount it "
                        "first (lunfs unmount {}) or choose another "
                        "directory",
                        mountpoint, pid > 0 ? fmt::format(" (pid {})", pid) : "", mountpoint));
    }
    return Status::Ok();
}

std::vector<MountedIdentity> MountedIdentities() {
    std::vector<MountedIdentity> out;
    for (const std::string& p : LunfsMountpoints(ReadAll("/proc/self/mountinfo"))) {
        const std::optional<std::string> text = ReadControlFile(p + "/.lunfs/stats");
        if (!text) {
            // One hung daemon must not keep every other LUN of the host from mounting.
            spdlog::warn(
                "cannot tell which LUNs the lunfs mount on {} serves: its daemon does "
                "not answer; not checked against it",
                p);
            continue;
        }
        const nlohmann::json st = nlohmann::json::parse(*text, nullptr, false);
        if (st.is_discarded() || !st.contains("luns")) continue;
        for (const nlohmann::json& lun : st["luns"]) {
            MountedIdentity m;
            m.mountpoint = p;
            m.file = lun.value("file", "");
            m.identity = lun.value("identity", "");
            m.cache = lun.contains("cache") ? lun["cache"].value("mode", "") : "";
            m.pid = st.value("pid", 0);
            out.push_back(std::move(m));
        }
    }
    return out;
}

Status CheckSharedLun(const std::string& file, const std::string& identity,
                      const std::string& cache, bool shared,
                      const std::vector<MountedIdentity>& others) {
    if (shared || identity.empty()) return Status::Ok();
    for (const MountedIdentity& m : others) {
        if (m.identity != identity) continue;
        if (cache == "none" && m.cache == "none") continue;
        return Status::Fail(
            EBUSY, fmt::format("{}: LUN {} is already mounted as {}; two lunfs daemons with a "
                               "cache on one LUN serve each other's overwritten data: unmount "
                               "it, or mount both with --cache none (or add --shared-lun if "
                               "something above coordinates them)",
                               file, identity, Described(m)));
    }
    return Status::Ok();
}

Status CheckLunsNotMountedElsewhere(const std::vector<MountedLun>& luns, bool shared) {
    if (shared) return Status::Ok();
    const std::vector<MountedIdentity> others = MountedIdentities();
    for (const MountedLun& lun : luns) {
        Status s = CheckSharedLun(lun.file, lun.device->Stats().identity, lun.settings.cache,
                                  shared, others);
        if (!s.ok()) return s;
    }
    return Status::Ok();
}

}  // namespace lunfs
