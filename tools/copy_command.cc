#include "tools/copy_command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tools/discover_command.h"
#include "tools/exit_codes.h"
#include "tools/status_view.h"

namespace lunfs {

namespace {

constexpr size_t kAlign = 4096;

// A file opened twice: with O_DIRECT where the file system allows it (aligned requests skip the
// page cache) and without, for an unaligned tail.
struct Endpoint {
    std::string path;
    int direct = -1;
    int buffered = -1;
    uint64_t size = 0;
    bool lun = false;  // a file in a lunfs mount
    ~Endpoint() {
        if (direct >= 0) close(direct);
        if (buffered >= 0) close(buffered);
    }
    int Fd(uint64_t offset, size_t length) const {
        return direct >= 0 && offset % kAlign == 0 && length % kAlign == 0 ? direct : buffered;
    }
};

bool InLunfsMount(const std::string& path) {
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    return access((dir + "/.lunfs/pid").c_str(), F_OK) == 0;
}

Status Fail(const std::string& what, int err) {
    return Status::Fail(err, fmt::format("{}: {}", what, std::strerror(err)));
}

Status OpenSource(Endpoint& e) {
    e.buffered = open(e.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (e.buffered < 0) return Fail(e.path, errno);
    struct stat st;
    if (fstat(e.buffered, &st) != 0) return Fail(e.path, errno);
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(e.buffered, BLKGETSIZE64, &e.size) != 0) return Fail(e.path, errno);
    } else if (S_ISREG(st.st_mode)) {
        e.size = static_cast<uint64_t>(st.st_size);
    } else {
        return Status::Fail(EINVAL, fmt::format("{} is not a file or block device", e.path));
    }
    e.lun = InLunfsMount(e.path);
    e.direct = open(e.path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
    return Status::Ok();
}

Status OpenDestination(Endpoint& e, const Endpoint& source) {
    e.lun = InLunfsMount(e.path);
    struct stat st;
    const bool exists = stat(e.path.c_str(), &st) == 0;
    struct stat src;
    if (exists && fstat(source.buffered, &src) == 0 && src.st_dev == st.st_dev &&
        src.st_ino == st.st_ino) {
        return Status::Fail(EINVAL,
                            fmt::format("{} and {} are the same file", source.path, e.path));
    }
    const bool keep_size = e.lun || (exists && S_ISBLK(st.st_mode));
    const int flags = O_WRONLY | O_CLOEXEC | (keep_size ? 0 : O_CREAT | O_TRUNC);
    e.buffered = open(e.path.c_str(), flags, 0644);
    if (e.buffered < 0) return Fail(e.path, errno);
    if (keep_size) {
        if (S_ISBLK(st.st_mode)) {
            if (ioctl(e.buffered, BLKGETSIZE64, &e.size) != 0) return Fail(e.path, errno);
        } else {
            e.size = static_cast<uint64_t>(st.st_size);
        }
        if (source.size > e.size) {
            return Status::Fail(ENOSPC,
                                fmt::format("{} ({}) does not fit in {} ({})", source.path,
                                            FormatSize(source.size), e.path, FormatSize(e.size)));
        }
    } else if (ftruncate(e.buffered, static_cast<off_t>(source.size)) != 0) {
        return Fail(e.path, errno);
    }
    e.direct = open(e.path.c_str(), O_WRONLY | O_CLOEXEC | O_DIRECT);
    return Status::Ok();
}

// Shared by the copying threads.
struct Job {
    Job(const Endpoint& from, const Endpoint& to, size_t chunk_bytes)
        : in(from), out(to), total(from.size), chunk(chunk_bytes) {}
    const Endpoint& in;
    const Endpoint& out;
    uint64_t total;
    size_t chunk;
    std::atomic<uint64_t> next{0};
    std::atomic<uint64_t> done{0};
    std::mutex mu;
    Status error;  // guarded by mu: the first failure
    std::atomic<bool> failed{false};

    void Fail(Status s) {
        std::lock_guard lock(mu);
        if (!failed.exchange(true)) error = std::move(s);
    }
};

void CopyWorker(Job& job) {
    void* raw = nullptr;
    if (posix_memalign(&raw, kAlign, job.chunk) != 0) return job.Fail(Fail("buffer", ENOMEM));
    std::unique_ptr<char, decltype(&std::free)> buf(static_cast<char*>(raw), &std::free);
    while (!job.failed) {
        const uint64_t offset = job.next.fetch_add(job.chunk);
        if (offset >= job.total) return;
        const size_t length =
            static_cast<size_t>(std::min<uint64_t>(job.chunk, job.total - offset));
        for (size_t got = 0; got < length;) {
            const uint64_t at = offset + got;
            const ssize_t n = pread(job.in.Fd(at, length - got), buf.get() + got, length - got,
                                    static_cast<off_t>(at));
            if (n <= 0) {
                return job.Fail(
                    n == 0 ? Status::Fail(EIO, fmt::format("{}: ends early at {}", job.in.path, at))
                           : lunfs::Fail(fmt::format("read {} at {}", job.in.path, at), errno));
            }
            got += static_cast<size_t>(n);
        }
        for (size_t put = 0; put < length;) {
            const uint64_t at = offset + put;
            const ssize_t n = pwrite(job.out.Fd(at, length - put), buf.get() + put, length - put,
                                     static_cast<off_t>(at));
            if (n <= 0) {
                return job.Fail(lunfs::Fail(fmt::format("write {} at {}", job.out.path, at),
                                            n == 0 ? ENOSPC : errno));
            }
            put += static_cast<size_t>(n);
        }
        job.done += length;
    }
}

int TerminalWidth() {
    winsize ws{};
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

// Reports progress on stderr until `finished`: a bar redrawn in place, or a line a second.
void ReportProgress(const Job& job, const std::string& mode, const bool& finished, std::mutex& mu,
                    std::condition_variable& cv) {
    const auto start = std::chrono::steady_clock::now();
    const bool bar = mode == "bar";
    const auto period = bar ? std::chrono::milliseconds(200) : std::chrono::milliseconds(1000);
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, period, [&] { return finished; })) {
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const std::string line = ProgressLine(job.done, job.total, elapsed, TerminalWidth(), bar);
        std::fprintf(stderr, bar ? "\r%s\x1b[K" : "%s\n", line.c_str());
    }
    if (bar) std::fputs("\r\x1b[K", stderr);
}

}  // namespace

std::string FormatDuration(double seconds) {
    const auto s = static_cast<uint64_t>(std::max(0.0, seconds) + 0.5);
    if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string ProgressLine(uint64_t done, uint64_t total, double elapsed_s, int width, bool bar) {
    const double fraction =
        total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
    const double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0;
    const std::string eta =
        rate > 0 ? FormatDuration(static_cast<double>(total - done) / rate) : "-:--";
    const std::string text =
        fmt::format("{:3.0f}%  {} of {}  {}  ETA {}", fraction * 100, FormatSize(done),
                    FormatSize(total), FormatRate(rate), eta);
    if (!bar) return text;
    const int cells = std::clamp(width - static_cast<int>(text.size()) - 4, 0, 50);
    if (cells < 5) return text;
    const int full = static_cast<int>(fraction * cells);
    return fmt::format("[{}{}]  {}", std::string(static_cast<size_t>(full), '#'),
                       std::string(static_cast<size_t>(cells - full), '.'), text);
}

int RunCopy(const CopyCommandOptions& o) {
    Endpoint in, out;
    in.path = o.source;
    out.path = o.destination;
    if (Status s = OpenSource(in); !s.ok()) {
        std::fprintf(stderr, "lunfs: %s\n", s.message().c_str());
        return kExitBadInput;
    }
    if (Status s = OpenDestination(out, in); !s.ok()) {
        std::fprintf(stderr, "lunfs: %s\n", s.message().c_str());
        return s.code() == ENOSPC ? kExitFailed : kExitBadInput;
    }
    std::string mode = o.progress;
    if (mode == "auto") mode = isatty(STDERR_FILENO) ? "bar" : "none";

    Job job(in, out, static_cast<size_t>(o.block_kib) * 1024);
    const auto start = std::chrono::steady_clock::now();
    bool finished = false;
    std::mutex mu;
    std::condition_variable cv;
    std::thread reporter;
    if (mode != "none")
        reporter = std::thread([&] { ReportProgress(job, mode, finished, mu, cv); });
    std::vector<std::thread> workers;
    for (unsigned i = 0; i < o.jobs; ++i) workers.emplace_back([&job] { CopyWorker(job); });
    for (std::thread& t : workers) t.join();
    if (!job.failed && (fsync(out.buffered) != 0 || (out.direct >= 0 && fsync(out.direct) != 0))) {
        job.Fail(Fail(fmt::format("fsync {}", out.path), errno));
    }
    {
        std::lock_guard lock(mu);
        finished = true;
    }
    cv.notify_all();
    if (reporter.joinable()) reporter.join();
    if (job.failed) {
        std::fprintf(stderr, "lunfs: %s\n", job.error.message().c_str());
        return kExitFailed;
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (mode != "none") {
        std::fprintf(stderr, "copied %s in %s (%s)\n", FormatSize(in.size).c_str(),
                     FormatDuration(elapsed).c_str(),
                     FormatRate(elapsed > 0 ? static_cast<double>(in.size) / elapsed : 0).c_str());
    }
    return 0;
}

}  // namespace lunfs
