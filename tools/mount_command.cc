#include "tools/mount_command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/rmw_device.h"
#include "engine/executor.h"
#include "engine/multipath_device.h"
#include "fuse/lun_fs.h"
#include "fuse/session.h"
#include "tools/exit_codes.h"
#include "tools/logging.h"
#include "tools/lun_setup.h"
#include "tools/metrics_server.h"
#include "tools/mount_guard.h"
#include "tools/path_retrier.h"
#include "tools/reservation_command.h"
#include "tools/stats_json.h"
#include "tools/stats_sampler.h"

namespace lunfs {

namespace {

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

// Writes back what the caches still hold (every close flushed already, unless the mount went
// away under open files) before the paths log out.
void FlushCaches(const std::vector<MountedLun>& luns) {
    for (const MountedLun& m : luns) {
        if (m.cache->Stats().dirty_bytes == 0) continue;
        std::promise<Status> flushed;
        std::future<Status> result = flushed.get_future();
        m.cache->Submit(IoRequest{
            IoOp::kFlush, 0, {}, [&flushed](Status s) { flushed.set_value(std::move(s)); }});
        if (Status s = result.get(); !s.ok()) {
            spdlog::error("{}: writing back the cache failed: {}", m.file, s.ToString());
        }
    }
}

// Requests the file system handed to the LUNs before the session stopped are answered before it
// goes: they get kShutdownGrace to finish, then the LUNs cancel what is left (each answered
// ECANCELED, nothing re-sent). Says whether every one was answered.
constexpr auto kShutdownGrace = std::chrono::seconds(10);
bool AnswerInFlight(LunFs& fs, const std::vector<MountedLun>& luns) {
    if (fs.WaitIdle(kShutdownGrace)) return true;
    spdlog::warn("{} request(s) unanswered {} s after the session stopped; cancelling them",
                 fs.InFlight(), kShutdownGrace.count());
    for (const MountedLun& m : luns) m.device->Cancel();
    return fs.WaitIdle(kShutdownGrace);
}

// A LUN none of whose URLs answered at mount time, now that one has: refused when this mount or
// another one on this host serves it already (the checks a mount makes), else its file appears.
Status MountLate(const MountedLun& m, LunList& luns, LunFs& fs, bool shared_lun) {
    const std::string& id = m.device->info().identity;
    for (const MountedLun& other : luns.Get()) {
        if (other.device->info().identity == id) {
            return Status::Fail(
                EINVAL, fmt::format("it reaches LUN {}, which is also LUN '{}'", id, other.file));
        }
    }
    if (Status s = CheckLunsNotMountedElsewhere({m}, shared_lun); !s.ok()) return s;
    luns.Add(m);
    fs.Attach(m.file, std::make_shared<RmwDevice>(m.cache));
    return Status::Ok();
}

// `.lunfs/paths` commands, for URLs still waiting too: `remove` forgets one, and a URL added
// by hand is no longer waited for.
Status RunPathsCommandOrPending(std::string_view text, const std::vector<MountedLun>& luns,
                                PathRetrier& retrier, const std::string& initiator_name) {
    std::istringstream in{std::string(text)};
    std::string verb, file, url_text;
    in >> verb >> file >> url_text;
    Result<IscsiUrl> url = ParseIscsiUrl(url_text);
    const std::string name = url.ok() ? url.value().ToString() : url_text;
    if (verb == "remove" && retrier.Remove(file, name)) return Status::Ok();
    Status s = RunPathsCommand(text, luns, initiator_name);
    if (s.ok() && verb == "add") retrier.Remove(file, name);
    return s;
}

}  // namespace

int RunMount(const MountSettings& o) {
    // Everything that can be checked without the network is checked before forking.
    auto bad = [](const Status& s) {
        std::fprintf(stderr, "lunfs: %s\n", s.message().c_str());
        return kExitBadInput;
    };
    Result<std::vector<LunPlan>> plans = PlanLuns(o);
    if (!plans.ok()) return bad(plans.status());
    if (Status s = CheckMountpointFree(o.mountpoint); !s.ok()) return bad(s);
    if (Status s = CheckMountpoint(o.mountpoint); !s.ok()) return bad(s);
    Result<MetricsAddress> metrics_address = ParseMetricsAddress(o.metrics, o.metrics_allow_remote);
    if (!o.log_file.empty()) {
        const int fd = open(o.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            return bad(Status::Fail(errno, fmt::format("cannot write the log file {}: {}",
                                                       o.log_file, std::strerror(errno))));
        }
        close(fd);
    }
    if (!metrics_address.ok()) return bad(metrics_address.status());
    Result<std::string> log_file = ChooseLogFile(o.foreground, o.log_file, o.mountpoint);
    if (!log_file.ok()) return bad(log_file.status());

    Reporter report(o.foreground ? -1 : Daemonize());
    SetUpLogging(o.log_level, o.foreground, log_file.value());

    // One TBB worker runs posted work (retries); FUSE workers and the paths' threads, which split
    // new requests in the arena themselves, each find a slot of their own there.
    auto executor = std::make_shared<TbbExecutor>(1, static_cast<int>(o.fuse_threads) + 8);
    Result<OpenedLuns> opened = OpenLuns(o, std::move(plans).value(), executor);
    if (!opened.ok()) return report.Failed(opened.status(), kExitFailed);
    Status shared = CheckLunsNotMountedElsewhere(opened.value().mounted, o.shared_lun);
    if (!shared.ok()) return report.Failed(shared, kExitBadInput);
    // LUNs none of whose URLs answered are mounted later: the list grows, and the retrier keeps
    // trying what did not answer.
    LunList luns(opened.value().mounted);
    PathRetrier retrier(o.initiator_name, o.shared_lun, executor);
    for (size_t i = 0; i < opened.value().mounted.size(); ++i) {
        retrier.Add(opened.value().mounted[i], opened.value().unreached[i]);
    }
    for (const PendingLun& p : opened.value().pending) retrier.Add(p);
    StatsSampler sampler([&luns] { return luns.Get(); }, [&retrier] { return retrier.Pending(); });

    std::unique_ptr<MetricsServer> metrics;
    if (!o.metrics.empty()) {
        Result<std::unique_ptr<MetricsServer>> server =
            MetricsServer::Start(metrics_address.value(), sampler);
        if (!server.ok()) return report.Failed(server.status(), kExitFailed);
        metrics = std::move(server).value();
    }
    const std::string metrics_at = metrics ? metrics->address() : "";

    std::vector<LunFile> files;
    bool all_read_only = true;
    for (const MountedLun& m : opened.value().mounted) {
        files.push_back({m.file, std::make_shared<RmwDevice>(m.cache), m.settings.read_only});
        all_read_only = all_read_only && m.settings.read_only;
    }
    for (const PendingLun& p : opened.value().pending) {
        files.push_back({p.file, nullptr, p.settings.read_only});
        all_read_only = all_read_only && p.settings.read_only;
    }
    std::string last_result = "ok\n";       // what the last paths command said
    std::string last_reservation = "ok\n";  // what the last reservation command said
    std::mutex last_mu;
    std::vector<ControlFile> control = {
        {"pid", [] { return fmt::format("{}\n", getpid()); }, nullptr},
        {"stats",
         [&] {
             return RenderStatsJson(luns.Get(), sampler.Rates(), metrics_at, retrier.Pending());
         },
         nullptr},
        {"paths",
         [&] {
             std::lock_guard lock(last_mu);
             return last_result;
         },
         [&](std::string_view text) {
             Status s = RunPathsCommandOrPending(text, luns.Get(), retrier, o.initiator_name);
             std::lock_guard lock(last_mu);
             last_result = s.ok() ? "ok\n" : s.message() + "\n";
             return s;
         }},
        {"reservation",
         [&] {
             std::lock_guard lock(last_mu);
             return last_reservation;
         },
         [&](std::string_view text) {
             std::string answer;
             Status s = RunReservationControl(text, luns.Get(), answer);
             std::lock_guard lock(last_mu);
             last_reservation = std::move(answer);
             return s;
         }},
    };
    FsOptions fs_options;
    fs_options.read_only = all_read_only;
    fs_options.uid = getuid();
    fs_options.gid = getgid();
    fs_options.mount_time = time(nullptr);
    LunFs fs(std::move(files), std::move(control), fs_options);

    MountOptions mount_options;
    mount_options.allow_other = o.allow_other;
    mount_options.read_only = all_read_only;
    mount_options.fsname =
        fmt::format("lunfs:{}", ParseIscsiUrl(luns.Get().front().settings.urls.front())->target);
    Result<std::unique_ptr<FuseSession>> session =
        FuseSession::Mount(fs, o.mountpoint, mount_options);
    if (!session.ok()) return report.Failed(session.status(), kExitFailed);

    spdlog::info("mounted {} LUN(s) on {}{}", luns.Get().size(), o.mountpoint,
                 metrics_at.empty() ? "" : "; metrics on http://" + metrics_at + "/metrics");
    retrier.Start([&](const MountedLun& m) { return MountLate(m, luns, fs, o.shared_lun); });
    report.Ready();
    Status run = session.value()->Run(o.fuse_threads);
    retrier.Stop();  // nothing joins the mount any more
    if (!AnswerInFlight(fs, luns.Get())) {
        // A reply to a destroyed session would write to freed memory: the session is left to
        // the process's exit.
        (void)session.value().release();
        spdlog::error("requests still unanswered at exit; leaving the FUSE session open");
    }
    session.value().reset();  // unmount before the paths log out
    FlushCaches(luns.Get());
    metrics.reset();
    if (!run.ok()) {
        spdlog::error("{}", run.message());
        return kExitFailed;
    }
    spdlog::info("unmounted {}", o.mountpoint);
    return 0;
}

}  // namespace lunfs
