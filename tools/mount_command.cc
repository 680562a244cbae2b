#include "tools/mount_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/rmw_device.h"
#include "engine/lun_device.h"
#include "fuse/lun_fs.h"
#include "fuse/session.h"
#include "paths/iscsi_path.h"
#include "paths/iscsi_url.h"
#include "tools/logging.h"
#include "tools/secret.h"
#include "tools/stats_json.h"

namespace lunfs {

namespace {

constexpr int kExitFailed = 1;
constexpr int kExitBadInput = 2;

// Where the outcome of mounting goes: stderr in the foreground; in the background, a pipe to the
// parent process, which prints it and exits with it.
class Reporter {
public:
    explicit Reporter(int fd) : fd_(fd) {}
    void Ready() { Send("OK\n"); }
    int Failed(const Status& s, int code) {
        if (fd_ < 0) {
            std::fprintf(stderr, "lunfs: %s\n", s.message().c_str());
        } else {
            Send(fmt::format("ERR {} {}\n", code, s.message()));
        }
        return code;
    }

private:
    void Send(const std::string& line) {
        if (fd_ < 0) return;
        [[maybe_unused]] ssize_t n = write(fd_, line.data(), line.size());
        close(fd_);
        fd_ = -1;
    }
    int fd_;
};

// Forks; the parent waits for the child's first line and exits with it. Returns in the child,
// detached from the terminal, with the write end of the pipe.
int Daemonize() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        std::perror("lunfs: pipe");
        std::exit(kExitFailed);
    }
    const pid_t pid = fork();
    if (pid < 0) {
        std::perror("lunfs: fork");
        std::exit(kExitFailed);
    }
    if (pid > 0) {
        close(fds[1]);
        std::string line;
        char c;
        while (read(fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
        if (line == "OK") std::exit(0);
        int code = kExitFailed;
        std::string message = "the daemon exited before the mount was ready";
        if (line.starts_with("ERR ")) {
            const size_t space = line.find(' ', 4);
            code = std::atoi(line.substr(4, space - 4).c_str());
            message = line.substr(space + 1);
        }
        std::fprintf(stderr, "lunfs: %s\n", message.c_str());
        std::exit(code);
    }
    close(fds[0]);
    setsid();
    // Nothing of the caller's terminal or pipes stays open in the daemon (nor in the
    // fusermount3 helper it starts), so `$(lunfs mount ...)` returns once the mount is ready.
    const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO) close(null);
    }
    return fds[1];
}

struct OpenedLuns {
    std::vector<MountedLun> luns;
};

Result<OpenedLuns> OpenLuns(const MountCommandOptions& o, const std::vector<IscsiUrl>& urls,
                            const std::string& secret) {
    OpenedLuns out;
    std::set<std::string> identities;
    for (size_t i = 0; i < urls.size(); ++i) {
        IscsiPathOptions po;
        po.url = urls[i];
        po.initiator_name = o.initiator_name;
        po.chap_secret = secret;
        po.login_timeout_s = o.login_timeout_s;
        po.command_timeout_s = o.command_timeout_s;
        po.queue_depth = o.queue_depth;
        Result<std::shared_ptr<IscsiPath>> path = IscsiPath::Open(po);
        if (!path.ok()) return path.status();
        const std::string& id = path.value()->info().identity;
        if (!id.empty() && !identities.insert(id).second) {
            return Status::Fail(EINVAL, fmt::format("{} reaches LUN {} a second time; give each LUN "
                                                    "once", urls[i].ToString(), id));
        }
        LunDeviceOptions lo;
        lo.max_extent_bytes = o.max_extent_kib * 1024;
        auto device = std::make_shared<LunDevice>(path.value(), lo);
        const std::string name = i < o.names.size() ? o.names[i] : fmt::format("lun{}", urls[i].lun);
        out.luns.push_back({name, device});
    }
    return out;
}

Status CheckNames(const MountCommandOptions& o, const std::vector<IscsiUrl>& urls) {
    if (o.names.size() > urls.size()) return Status::Fail(EINVAL, "more --name values than URLs");
    std::set<std::string> seen;
    for (size_t i = 0; i < urls.size(); ++i) {
        const std::string name = i < o.names.size() ? o.names[i] : fmt::format("lun{}", urls[i].lun);
        if (name.empty() || name.size() > 255 || name.find('/') != std::string::npos ||
            name.starts_with('.')) {
            return Status::Fail(EINVAL, fmt::format("'{}' cannot be a file name (1 to 255 bytes, no "
                                                    "'/', not starting with '.')", name));
        }
        if (!seen.insert(name).second) {
            return Status::Fail(EINVAL, fmt::format("two LUNs would both be named '{}'; name them "
                                                    "with --name", name));
        }
    }
    return Status::Ok();
}

}  // namespace

int RunMount(const MountCommandOptions& o) {
    // Everything that can be checked without the network is checked before forking.
    auto bad = [](const Status& s) {
        std::fprintf(stderr, "lunfs: %s\n", s.message().c_str());
        return kExitBadInput;
    };
    if (Status s = ValidateLogLevel(o.log_level); !s.ok()) return bad(s);
    std::vector<IscsiUrl> urls;
    for (const std::string& text : o.urls) {
        Result<IscsiUrl> url = ParseIscsiUrl(text);
        if (!url.ok()) return bad(url.status());
        urls.push_back(std::move(url).value());
    }
    if (Status s = CheckNames(o, urls); !s.ok()) return bad(s);
    if (Status s = CheckMountpoint(o.mountpoint); !s.ok()) return bad(s);
    Result<std::string> secret = LoadChapSecret(o.chap_secret_file);
    if (!secret.ok()) return bad(secret.status());
    for (const IscsiUrl& url : urls) {
        if (!url.user.empty() && secret.value().empty()) {
            return bad(Status::Fail(EINVAL, fmt::format("CHAP user '{}' needs a secret: "
                                                        "--chap-secret-file or ${}",
                                                        url.user, kChapSecretEnv)));
        }
    }

    Reporter report(o.foreground ? -1 : Daemonize());
    SetUpLogging(o.log_level, o.foreground, o.log_file);

    Result<OpenedLuns> opened = OpenLuns(o, urls, secret.value());
    if (!opened.ok()) return report.Failed(opened.status(), kExitFailed);
    std::vector<MountedLun> mounted = opened.value().luns;

    std::vector<LunFile> files;
    for (const MountedLun& m : mounted) files.push_back({m.file, std::make_shared<RmwDevice>(m.device)});
    std::vector<ControlFile> control = {
        {"pid", [] { return fmt::format("{}\n", getpid()); }},
        {"stats", [mounted] { return RenderStatsJson(mounted); }},
    };
    FsOptions fs_options;
    fs_options.read_only = o.read_only;
    fs_options.uid = getuid();
    fs_options.gid = getgid();
    fs_options.mount_time = time(nullptr);
    LunFs fs(std::move(files), std::move(control), fs_options);

    MountOptions mount_options;
    mount_options.allow_other = o.allow_other;
    mount_options.read_only = o.read_only;
    mount_options.fsname = fmt::format("lunfs:{}", urls.front().target);
    Result<std::unique_ptr<FuseSession>> session = FuseSession::Mount(fs, o.mountpoint, mount_options);
    if (!session.ok()) return report.Failed(session.status(), kExitFailed);

    spdlog::info("mounted {} LUN(s) on {}", mounted.size(), o.mountpoint);
    report.Ready();
    Status run = session.value()->Run(o.fuse_threads);
    session.value().reset();  // unmount before the paths log out
    if (!run.ok()) {
        spdlog::error("{}", run.message());
        return kExitFailed;
    }
    spdlog::info("unmounted {}", o.mountpoint);
    return 0;
}

}  // namespace lunfs
