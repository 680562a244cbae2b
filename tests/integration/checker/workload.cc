#include "tests/integration/checker/workload.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "tests/integration/checker/ledger.h"
#include "tests/integration/checker/stamp.h"
#include "tests/integration/checker/verify.h"

namespace lunfs::check {

namespace {

using Steady = std::chrono::steady_clock;
constexpr int kMaxFailuresInARow = 50;  // a writer stops after so many (the mount is gone)

struct Buffer {
    explicit Buffer(size_t bytes) {
        void* p = nullptr;
        if (posix_memalign(&p, 4096, bytes) == 0) data.reset(static_cast<char*>(p));
    }
    std::unique_ptr<char, decltype(&std::free)> data{nullptr, &std::free};
};

// Each writer's blocks: an odd count, so that neighbours share the 4 KiB block at each edge.
std::vector<uint32_t> Owners(const WorkloadOptions& o, uint64_t& per_writer) {
    const uint64_t blocks = (o.area_mib << 20) / kBlock;
    per_writer = blocks / static_cast<uint64_t>(o.writers);
    if (per_writer % 2 == 0) --per_writer;
    std::vector<uint32_t> owners(per_writer * static_cast<uint64_t>(o.writers));
    for (uint64_t i = 0; i < owners.size(); ++i) owners[i] = static_cast<uint32_t>(i / per_writer);
    return owners;
}

class Workload {
  public:
    explicit Workload(const WorkloadOptions& o)
        : o_(o),
          max_blocks_(std::max<uint64_t>(1, uint64_t{o.max_kib} * 1024 / kBlock)),
          ledger_(o.offset_mib * (1 << 20) / kBlock, Owners(o, per_writer_), o.seed ^ WallUs()),
          during_(ledger_, "during run"),
          end_(Steady::now() + std::chrono::milliseconds(static_cast<int64_t>(o.seconds * 1000))) {}

    int Run();

  private:
    void Writer(int id);
    // A first pass that stamps every block of a writer's, so that none is left to read as
    // zeros; returns the failures in a row it ended with.
    int Fill(int fd, int id, bool buffered, uint64_t first, char* buf);
    void Reader(int id);
    bool Write(int fd, int id, bool buffered, uint64_t block, uint64_t n, char* buf);
    void ReadBack(int fd, uint64_t block, uint64_t n, char* buf);
    uint64_t Length(std::mt19937_64& rng, uint64_t limit) const;
    void Progress() const;
    int Finish(uint64_t sync_errors);

    const WorkloadOptions o_;
    const uint64_t max_blocks_;
    uint64_t per_writer_ = 0;
    Ledger ledger_;
    Verifier during_;
    const Steady::time_point end_;
    std::atomic<uint64_t> next_gen_{1};
    std::atomic<uint64_t> bytes_written_{0}, reads_{0}, sync_errors_{0};
    std::atomic<int> writers_left_{0};
};

uint64_t Workload::Length(std::mt19937_64& rng, uint64_t limit) const {
    // Log-uniform from 1 block to max_blocks_: as many 4 KiB writes as 1 MiB ones.
    const double top = std::log(static_cast<double>(std::min(max_blocks_, limit)) + 1);
    const double x = std::uniform_real_distribution<double>(0, top)(rng);
    return std::clamp<uint64_t>(static_cast<uint64_t>(std::exp(x)), 1,
                                std::min(max_blocks_, limit));
}

bool Workload::Write(int fd, int id, bool buffered, uint64_t block, uint64_t n, char* buf) {
    const uint64_t gen = next_gen_++;
    for (uint64_t i = 0; i < n; ++i) {
        Encode({block + i, static_cast<uint32_t>(id), gen, ledger_.run()}, buf + i * kBlock);
    }
    WriteRecord r{gen, static_cast<uint32_t>(id), static_cast<uint32_t>(n), block, WallUs(), 0,
                  0,   buffered ? 1u : 0u};
    ledger_.Issue(block, static_cast<uint32_t>(n), gen);
    const ssize_t done = pwrite(fd, buf, n * kBlock, static_cast<off_t>(block * kBlock));
    r.done_us = WallUs();
    if (done == static_cast<ssize_t>(n * kBlock)) {
        ledger_.Ack(block, static_cast<uint32_t>(n), gen);
        bytes_written_ += n * kBlock;
    } else {
        r.error = done < 0 ? errno : -1;
    }
    ledger_.Log(r);
    if (r.error != 0) std::printf("write failed: %s\n", during_.DescribeGen(gen).c_str());
    return r.error == 0;
}

void Workload::ReadBack(int fd, uint64_t block, uint64_t n, char* buf) {
    std::vector<Window> windows(n);
    for (uint64_t i = 0; i < n; ++i) windows[i].lo = ledger_.Floor(block + i);
    ReadSpan span{block, n, WallUs(), 0};
    const ssize_t got = pread(fd, buf, n * kBlock, static_cast<off_t>(block * kBlock));
    span.end_us = WallUs();
    ++reads_;
    if (got != static_cast<ssize_t>(n * kBlock)) {
        during_.ReadFailed(span, got < 0 ? errno : -1);
        return;
    }
    for (uint64_t i = 0; i < n; ++i) windows[i].hi = ledger_.Issued(block + i);
    during_.Check(span, buf, windows.data());
}

int Workload::Fill(int fd, int id, bool buffered, uint64_t first, char* buf) {
    const uint64_t piece = std::min<uint64_t>(max_blocks_, (1 << 20) / kBlock);
    int failures = 0;
    for (uint64_t b = 0; b < per_writer_ && failures < kMaxFailuresInARow; b += piece) {
        const bool ok = Write(fd, id, buffered, first + b, std::min(piece, per_writer_ - b), buf);
        failures = ok ? 0 : failures + 1;
    }
    return failures;
}

void Workload::Writer(int id) {
    const bool buffered = id < o_.buffered;
    const int fd = open(o_.file.c_str(), O_RDWR | (buffered ? 0 : O_DIRECT) | O_CLOEXEC);
    const int rfd = open(o_.file.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    Buffer buf(max_blocks_ * kBlock);
    const uint64_t first = ledger_.first_block() + static_cast<uint64_t>(id) * per_writer_;
    std::mt19937_64 rng(o_.seed * 7919 + static_cast<uint64_t>(id));
    int failures = fd < 0 || rfd < 0 ? kMaxFailuresInARow : 0;
    if (failures)
        std::printf("writer %d: cannot open %s: %s\n", id, o_.file.c_str(), strerror(errno));
    if (!failures) failures = Fill(fd, id, buffered, first, buf.data.get());
    while (Steady::now() < end_ && failures < kMaxFailuresInARow) {
        const uint64_t n = Length(rng, per_writer_);
        const uint64_t at =
            first + std::uniform_int_distribution<uint64_t>(0, per_writer_ - n)(rng);
        failures = Write(fd, id, buffered, at, n, buf.data.get()) ? 0 : failures + 1;
        // Every other write is read back at once, as fio's verification does; every sixth
        // one, some other range of the writer's own.
        if (const uint64_t roll = rng() % 6; roll < 3) {
            ReadBack(rfd, at, n, buf.data.get());
        } else if (roll == 3) {
            const uint64_t m = Length(rng, per_writer_);
            const uint64_t from =
                first + std::uniform_int_distribution<uint64_t>(0, per_writer_ - m)(rng);
            ReadBack(rfd, from, m, buf.data.get());
        }
    }
    if (fd >= 0 && (fsync(fd) != 0 || close(fd) != 0)) {
        std::printf("writer %d: fsync or close failed: %s\n", id, strerror(errno));
        ++sync_errors_;
    }
    if (rfd >= 0) close(rfd);
    --writers_left_;
}

void Workload::Reader(int id) {
    const int fd = open(o_.file.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) return;
    Buffer buf(max_blocks_ * kBlock);
    std::mt19937_64 rng(o_.seed * 104729 + static_cast<uint64_t>(id));
    while (writers_left_.load() > 0) {
        const uint64_t n = Length(rng, ledger_.blocks());
        const uint64_t at = ledger_.first_block() +
                            std::uniform_int_distribution<uint64_t>(0, ledger_.blocks() - n)(rng);
        ReadBack(fd, at, n, buf.data.get());
    }
    close(fd);
}

void Workload::Progress() const {
    std::printf("progress: %s %zu writes, %.0f MiB written, %llu reads, %llu violations\n",
                Clock(WallUs()).c_str(), ledger_.Writes(),
                static_cast<double>(bytes_written_.load()) / 1048576.0,
                static_cast<unsigned long long>(reads_.load()),
                static_cast<unsigned long long>(during_.violations()));
    std::fflush(stdout);
}

int Workload::Run() {
    std::printf(
        "run %llu: %s, %d writers (%d buffered) of %llu blocks each from block %llu, %d readers, "
        "%.0f s\n",
        static_cast<unsigned long long>(ledger_.run()), o_.file.c_str(), o_.writers, o_.buffered,
        static_cast<unsigned long long>(per_writer_),
        static_cast<unsigned long long>(ledger_.first_block()), o_.readers, o_.seconds);
    const auto start = Steady::now();
    writers_left_ = o_.writers;
    std::vector<std::thread> threads;
    for (int i = 0; i < o_.writers; ++i) threads.emplace_back(&Workload::Writer, this, i);
    for (int i = 0; i < o_.readers; ++i) threads.emplace_back(&Workload::Reader, this, i);
    for (auto next = start + std::chrono::seconds(5); writers_left_.load() > 0;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (Steady::now() >= next) {
            Progress();
            next += std::chrono::seconds(5);
        }
    }
    for (std::thread& t : threads) t.join();
    return Finish(sync_errors_.load());
}

int Workload::Finish(uint64_t sync_errors) {
    ledger_.Seal();
    Verifier at_end(ledger_, "mount at end");
    const int fd = open(o_.file.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    const bool read_ok = fd >= 0 && VerifyAll(fd, ledger_, at_end);
    if (fd >= 0) close(fd);
    if (!o_.ledger.empty() && !ledger_.Save(o_.ledger)) {
        std::printf("cannot save the ledger to %s\n", o_.ledger.c_str());
    }
    const uint64_t violations = during_.violations() + at_end.violations();
    const size_t failed = ledger_.FailedWrites();
    std::printf(
        "summary [run]: writes=%zu mib_written=%.0f write_errors=%zu sync_errors=%llu reads=%llu "
        "blocks_checked=%llu read_errors=%llu torn_while_written=%llu violations_during=%llu "
        "violations_at_end=%llu\n",
        ledger_.Writes(), static_cast<double>(bytes_written_.load()) / 1048576.0, failed,
        static_cast<unsigned long long>(sync_errors),
        static_cast<unsigned long long>(reads_.load()),
        static_cast<unsigned long long>(during_.checked() + at_end.checked()),
        static_cast<unsigned long long>(during_.read_errors() + at_end.read_errors() + (fd < 0)),
        static_cast<unsigned long long>(during_.torn_while_written()),
        static_cast<unsigned long long>(during_.violations()),
        static_cast<unsigned long long>(at_end.violations()));
    if (violations > 0) return 1;
    const bool errors = failed > 0 || sync_errors > 0 || !read_ok || during_.read_errors() > 0;
    return errors ? 3 : 0;
}

}  // namespace

int RunWorkload(const WorkloadOptions& options) { return Workload(options).Run(); }

}  // namespace lunfs::check
