#include "fuse/session.h"

#include <fmt/format.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace lunfs {

Status CheckMountpoint(const std::string& path) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
        return Status::Fail(errno, fmt::format("mountpoint {}: {}", path, std::strerror(errno)));
    }
    if (!S_ISDIR(st.st_mode)) {
        return Status::Fail(ENOTDIR, fmt::format("mountpoint {} is not a directory", path));
    }
    if (access(path.c_str(), W_OK | X_OK) != 0) {
        return Status::Fail(errno, fmt::format("mountpoint {}: {}", path, std::strerror(errno)));
    }
    return Status::Ok();
}

Result<std::unique_ptr<FuseSession>> FuseSession::Mount(LunFs& fs, const std::string& mountpoint,
                                                        const MountOptions& options) {
    if (Status s = CheckMountpoint(mountpoint); !s.ok()) return s;
    std::string opts =
        fmt::format("fsname={},subtype=lunfs,default_permissions,max_read={},auto_unmount",
                    options.fsname, 1 << 20);
    if (options.allow_other) opts += ",allow_other";
    if (options.read_only) opts += ",ro";

    fuse_args args = FUSE_ARGS_INIT(0, nullptr);
    fuse_opt_add_arg(&args, "lunfs");
    fuse_opt_add_arg(&args, "-o");
    fuse_opt_add_arg(&args, opts.c_str());
    fuse_session* se = fuse_session_new(&args, &LunFs::Ops(), sizeof(fuse_lowlevel_ops), &fs);
    fuse_opt_free_args(&args);
    if (!se) return Status::Fail(EINVAL, "cannot create the FUSE session");
    if (fuse_set_signal_handlers(se) != 0) {
        fuse_session_destroy(se);
        return Status::Fail(EIO, "cannot install signal handlers");
    }
    if (fuse_session_mount(se, mountpoint.c_str()) != 0) {
        fuse_remove_signal_handlers(se);
        fuse_session_destroy(se);
        return Status::Fail(EIO, fmt::format("cannot mount on {} (is /dev/fuse there, and "
                                             "fusermount3 installed?)",
                                             mountpoint));
    }
    return std::unique_ptr<FuseSession>(new FuseSession(se, mountpoint));
}

FuseSession::~FuseSession() {
    fuse_session_unmount(se_);
    fuse_remove_signal_handlers(se_);
    fuse_session_destroy(se_);
}

namespace {

// Interrupts a worker's read() of /dev/fuse once the session has exited; its handler does
// nothing, and it is installed without SA_RESTART so that the read returns EINTR.
constexpr int kWakeSignal = SIGUSR1;
void IgnoreWake(int) {}

}  // namespace

Status FuseSession::Run(unsigned threads) {
    struct sigaction wake {
    }, old{};
    wake.sa_handler = IgnoreWake;
    sigemptyset(&wake.sa_mask);
    sigaction(kWakeSignal, &wake, &old);

    std::mutex mu;
    std::condition_variable cv;
    unsigned running = std::max(1u, threads);  // guarded by mu
    std::vector<std::thread> workers;
    for (unsigned i = 0; i < std::max(1u, threads); ++i) {
        workers.emplace_back([&] {
            Serve();
            std::lock_guard lock(mu);
            --running;
            cv.notify_all();
        });
    }
    {
        // The session exits on unmount (every worker sees ENODEV) or on a signal (one of them
        // may not be reading then): wake the others until all have left.
        std::unique_lock lock(mu);
        while (running > 0) {
            cv.wait_for(lock, std::chrono::milliseconds(100));
            if (running == 0 || !fuse_session_exited(se_)) continue;
            lock.unlock();
            for (std::thread& t : workers) pthread_kill(t.native_handle(), kWakeSignal);
            lock.lock();
        }
    }
    for (std::thread& t : workers) t.join();
    sigaction(kWakeSignal, &old, nullptr);
    if (!error_.ok()) return error_;
    return Status::Ok();
}

// One worker: reads a request into a buffer of the pool, hands it to libfuse, and keeps the
// buffer for the next request unless a write took it (fuse/request_buffer.h).
void FuseSession::Serve() {
    const int fd = fuse_session_fd(se_);
    CurrentRequest& current = ThisWorkersRequest();
    std::byte* buffer = nullptr;
    while (!fuse_session_exited(se_)) {
        if (!buffer) buffer = pool_.Get();
        if (!buffer) {
            Stop(Status::Fail(ENOMEM, "no memory for a FUSE request buffer"));
            break;
        }
        const ssize_t n = read(fd, buffer, RequestBufferPool::kBytes);
        if (n < 0) {
            const int err = errno;
            // ENOENT: the request was interrupted before it was read; EINTR: a signal.
            if (err == EINTR || err == EAGAIN || err == ENOENT) continue;
            Stop(err == ENODEV ? Status::Ok()
                               : Status::Fail(err, fmt::format("reading the FUSE device: {}",
                                                               std::strerror(err))));
            break;
        }
        if (fuse_session_exited(se_)) break;
        if (static_cast<size_t>(n) < sizeof(fuse_in_header)) {
            Stop(Status::Fail(EIO, "short read from the FUSE device"));
            break;
        }
        current = CurrentRequest{&pool_, buffer, static_cast<size_t>(n)};
        fuse_buf request{};
        request.size = static_cast<size_t>(n);
        request.mem = buffer;
        fuse_session_process_buf(se_, &request);
        if (!current.buffer) buffer = nullptr;  // a write took it
        current = CurrentRequest{};
    }
    pool_.Put(buffer);
}

void FuseSession::Stop(Status why) {
    {
        std::lock_guard lock(error_mu_);
        if (error_.ok() && !why.ok()) error_ = std::move(why);
    }
    fuse_session_exit(se_);
}

}  // namespace lunfs
