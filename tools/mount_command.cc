#include "tools/mount_command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "core/rmw_device.h"
#include "engine/executor.h"
#include "engine/multipath_device.h"
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

// The CHAP secrets of a mount: ours, and the target's for mutual CHAP.
struct ChapSecrets {
    std::string initiator;
    std::string target;
};

IscsiPathOptions PathOptions(const MountCommandOptions& o, const IscsiUrl& url,
                             const ChapSecrets& secret) {
    IscsiPathOptions po;
    po.url = url;
    po.initiator_name = o.initiator_name;
    po.chap_secret = secret.initiator;
    po.chap_target_user = o.chap_target_user;
    po.chap_target_secret = secret.target;
    po.login_timeout_s = o.login_timeout_s;
    po.command_timeout_s = o.command_timeout_s;
    po.queue_depth = o.queue_depth;
    return po;
}

EngineOptions MakeEngineOptions(const MountCommandOptions& o) {
    EngineOptions eo;
    eo.picker.policy = *ParsePolicy(o.policy);
    eo.picker.switch_every = o.rr_switch_every;
    eo.max_extent_bytes = o.max_extent_kib * 1024;
    eo.no_path_timeout =
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(o.no_path_timeout_s));
    eo.deadline_ceiling = std::chrono::seconds(o.command_timeout_s);
    return eo;
}

// The LUNs behind the URLs: URLs whose paths show one identity are paths of one LUN; URLs that
// name the same target and LUN number must show the same identity.
Result<std::vector<MountedLun>> OpenLuns(const MountCommandOptions& o,
                                         const std::vector<IscsiUrl>& urls,
                                         const ChapSecrets& secret,
                                         const std::shared_ptr<Executor>& executor) {
    struct Group {
        std::string name;
        std::vector<std::shared_ptr<PathIo>> paths;
    };
    std::vector<Group> groups;
    std::vector<std::pair<IscsiUrl, std::string>> seen;  // url, identity
    for (const IscsiUrl& url : urls) {
        Result<std::shared_ptr<IscsiPath>> path = IscsiPath::Open(PathOptions(o, url, secret));
        if (!path.ok()) return path.status();
        const std::string& id = path.value()->info().identity;
        if (id.empty()) {
            return Status::Fail(EPROTO, fmt::format("{} reports no identity (VPD 0x83 or 0x80); "
                                                    "lunfs cannot tell its paths apart",
                                                    url.ToString()));
        }
        for (const auto& [other, other_id] : seen) {
            if (other.target == url.target && other.lun == url.lun && other_id != id) {
                return Status::Fail(
                    EINVAL,
                    fmt::format("{} and {} name the same LUN but reach different ones: {} vs {}",
                                other.ToString(), url.ToString(), other_id, id));
            }
        }
        seen.emplace_back(url, id);
        auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
            return g.paths.front()->info().identity == id;
        });
        if (it == groups.end()) {
            const size_t index = groups.size();
            groups.push_back(
                {index < o.names.size() ? o.names[index] : fmt::format("lun{}", url.lun), {}});
            it = groups.end() - 1;
        } else if (it->paths.front()->info().capacity.blocks !=
                   path.value()->info().capacity.blocks) {
            return Status::Fail(EINVAL, fmt::format("{} shows another capacity than the LUN's "
                                                    "other paths",
                                                    url.ToString()));
        }
        it->paths.push_back(std::move(path).value());
    }
    if (o.names.size() > groups.size()) {
        return Status::Fail(
            EINVAL, fmt::format("{} --name values for {} LUN(s)", o.names.size(), groups.size()));
    }
    std::vector<MountedLun> out;
    for (Group& g : groups) {
        if (std::any_of(out.begin(), out.end(),
                        [&](const MountedLun& m) { return m.file == g.name; })) {
            return Status::Fail(EINVAL, fmt::format("two LUNs would both be named '{}'; name them "
                                                    "with --name",
                                                    g.name));
        }
        spdlog::info("{}: LUN {} over {} path(s)", g.name, g.paths.front()->info().identity,
                     g.paths.size());
        auto device = std::make_shared<MultipathDevice>(std::move(g.paths), MakeEngineOptions(o),
                                                        std::make_shared<SteadyClock>(), executor);
        out.push_back({g.name, std::move(device)});
    }
    return out;
}

// Mutual CHAP needs the target's name and secret, and one-way CHAP under it (a user in every URL).
Status CheckMutualChap(const MountCommandOptions& o, const std::vector<IscsiUrl>& urls,
                       const std::string& target_secret) {
    if (o.chap_target_user.empty()) {
        if (!o.chap_target_secret_file.empty()) {
            return Status::Fail(EINVAL, "--chap-target-secret-file needs --chap-target-user");
        }
        return Status::Ok();
    }
    if (target_secret.empty()) {
        return Status::Fail(EINVAL, fmt::format("--chap-target-user needs the target's secret: "
                                                "--chap-target-secret-file or ${}",
                                                kChapTargetSecretEnv));
    }
    for (const IscsiUrl& url : urls) {
        if (url.user.empty()) {
            return Status::Fail(EINVAL, fmt::format("mutual CHAP needs a CHAP user in every URL "
                                                    "(iscsi://USER@host/...): {}",
                                                    url.ToString()));
        }
    }
    return Status::Ok();
}

Status CheckNames(const MountCommandOptions& o) {
    for (const std::string& name : o.names) {
        if (name.empty() || name.size() > 255 || name.find('/') != std::string::npos ||
            name.starts_with('.')) {
            return Status::Fail(EINVAL,
                                fmt::format("'{}' cannot be a file name (1 to 255 bytes, no "
                                            "'/', not starting with '.')",
                                            name));
        }
    }
    return Status::Ok();
}

// `.lunfs/paths` commands: "add FILE URL" and "remove FILE URL".
Status RunPathsCommand(std::string_view text, const std::vector<MountedLun>& luns,
                       const MountCommandOptions& o, const ChapSecrets& secret) {
    std::istringstream in{std::string(text)};
    std::string verb, file, url_text, extra;
    in >> verb >> file >> url_text;
    if ((verb != "add" && verb != "remove") || url_text.empty() || (in >> extra)) {
        return Status::Fail(EINVAL, "usage: add|remove FILE URL");
    }
    auto lun =
        std::find_if(luns.begin(), luns.end(), [&](const MountedLun& m) { return m.file == file; });
    if (lun == luns.end()) return Status::Fail(ENOENT, fmt::format("no LUN file '{}'", file));
    Result<IscsiUrl> url = ParseIscsiUrl(url_text);
    if (!url.ok()) return url.status();
    if (verb == "remove") return lun->device->RemovePath(url.value().ToString());
    Result<std::shared_ptr<IscsiPath>> path = IscsiPath::Open(PathOptions(o, url.value(), secret));
    if (!path.ok()) return path.status();
    return lun->device->AddPath(std::move(path).value());
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
    if (Status s = CheckNames(o); !s.ok()) return bad(s);
    if (!ParsePolicy(o.policy)) {
        return bad(Status::Fail(EINVAL, fmt::format("unknown policy '{}' (spread, round-robin, "
                                                    "queue-depth, service-time, failover)",
                                                    o.policy)));
    }
    if (o.no_path_timeout_s < 0 || o.no_path_timeout_s > 3600) {
        return bad(Status::Fail(EINVAL, "--no-path-timeout must be 0 to 3600 seconds"));
    }
    if (Status s = CheckMountpoint(o.mountpoint); !s.ok()) return bad(s);
    Result<std::string> initiator_secret = LoadChapSecret(o.chap_secret_file);
    if (!initiator_secret.ok()) return bad(initiator_secret.status());
    for (const IscsiUrl& url : urls) {
        if (!url.user.empty() && initiator_secret.value().empty()) {
            return bad(Status::Fail(EINVAL, fmt::format("CHAP user '{}' needs a secret: "
                                                        "--chap-secret-file or ${}",
                                                        url.user, kChapSecretEnv)));
        }
    }
    Result<std::string> target_secret = LoadSecret(o.chap_target_secret_file, kChapTargetSecretEnv);
    if (!target_secret.ok()) return bad(target_secret.status());
    if (Status s = CheckMutualChap(o, urls, target_secret.value()); !s.ok()) return bad(s);
    const ChapSecrets secret{initiator_secret.value(), target_secret.value()};

    Reporter report(o.foreground ? -1 : Daemonize());
    SetUpLogging(o.log_level, o.foreground, o.log_file);

    auto executor = std::make_shared<TbbExecutor>(
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / 2)));
    Result<std::vector<MountedLun>> opened = OpenLuns(o, urls, secret, executor);
    if (!opened.ok()) return report.Failed(opened.status(), kExitFailed);
    const std::vector<MountedLun> mounted = std::move(opened).value();

    std::vector<LunFile> files;
    for (const MountedLun& m : mounted)
        files.push_back({m.file, std::make_shared<RmwDevice>(m.device)});
    std::string last_result = "ok\n";  // what the last paths command said
    std::mutex last_mu;
    std::vector<ControlFile> control = {
        {"pid", [] { return fmt::format("{}\n", getpid()); }, nullptr},
        {"stats", [&mounted] { return RenderStatsJson(mounted); }, nullptr},
        {"paths",
         [&] {
             std::lock_guard lock(last_mu);
             return last_result;
         },
         [&](std::string_view text) {
             Status s = RunPathsCommand(text, mounted, o, secret);
             std::lock_guard lock(last_mu);
             last_result = s.ok() ? "ok\n" : s.message() + "\n";
             return s;
         }},
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
    Result<std::unique_ptr<FuseSession>> session =
        FuseSession::Mount(fs, o.mountpoint, mount_options);
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
