#include "tests/integration/checker/verify.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/checker/stamp.h"

namespace lunfs::check {

int64_t WallUs() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string Clock(int64_t wall_us) {
    const time_t secs = static_cast<time_t>(wall_us / 1000000);
    struct tm tm {};
    localtime_r(&secs, &tm);
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(wall_us % 1000000 / 1000));
    return buf;
}

Verifier::Verifier(const Ledger& ledger, std::string phase, int max_lines)
    : ledger_(ledger), phase_(std::move(phase)), max_lines_(max_lines) {}

Verifier::Verdict Verifier::Judge(uint64_t block, const char* data, const Window& w) const {
    const Decoded d = Decode(data);
    if (d.found == Found::kZeros) return w.lo == 0 ? Verdict::kGood : Verdict::kBad;
    const uint32_t owner = ledger_.Owner(block);
    if (d.found == Found::kStamp && d.stamp.block == block && d.stamp.writer == owner &&
        d.stamp.run == ledger_.run() && d.stamp.gen >= w.lo && d.stamp.gen <= w.hi) {
        return Verdict::kGood;
    }
    const bool mixed =
        w.lo < w.hi && (d.found == Found::kTorn || d.found == Found::kGarbage) &&
        Provenance(data, {block, owner, w.lo, ledger_.run()}, {block, owner, w.hi, ledger_.run()})
            .both;
    return mixed ? Verdict::kTornWhileWritten : Verdict::kBad;
}

void Verifier::NoteTear(const ReadSpan& span, uint64_t block, const char* data, const Window& w) {
    const uint32_t owner = ledger_.Owner(block);
    const Blend b =
        Provenance(data, {block, owner, w.lo, ledger_.run()}, {block, owner, w.hi, ledger_.run()});
    std::lock_guard lock(mu_);
    ++torn_;
    if (lines_++ >= max_lines_) return;
    std::printf("torn while written [%s]: block %llu of writer %u read %s-%s holds %s\n",
                phase_.c_str(), static_cast<unsigned long long>(block), owner,
                Clock(span.start_us).c_str(), Clock(span.end_us).c_str(), b.parts.c_str());
}

uint64_t Verifier::Check(const ReadSpan& span, const char* data, const Window* windows) {
    uint64_t bad = 0;
    auto good = [&](uint64_t i) {
        return Judge(span.block + i, data + i * kBlock, windows[i]) != Verdict::kBad;
    };
    for (uint64_t i = 0; i < span.blocks;) {
        const Verdict v = Judge(span.block + i, data + i * kBlock, windows[i]);
        if (v == Verdict::kTornWhileWritten)
            NoteTear(span, span.block + i, data + i * kBlock, windows[i]);
        if (v != Verdict::kBad) {
            ++i;
            continue;
        }
        // A run of neighbours that went wrong alike: same finding, same window.
        const Decoded first = Decode(data + i * kBlock);
        uint64_t n = 1;
        while (i + n < span.blocks && !good(i + n)) {
            const Decoded next = Decode(data + (i + n) * kBlock);
            if (next.found != first.found || next.stamp.gen != first.stamp.gen ||
                windows[i + n].lo != windows[i].lo || windows[i + n].hi != windows[i].hi) {
                break;
            }
            ++n;
        }
        Print(span, span.block + i, n, data + i * kBlock, windows[i]);
        bad += n;
        i += n;
    }
    std::lock_guard lock(mu_);
    checked_ += span.blocks;
    violations_ += bad;
    return bad;
}

std::string Verifier::DescribeGen(uint64_t gen) const {
    if (gen == 0) return "gen 0 (never written)";
    const std::optional<WriteRecord> r = ledger_.Find(gen);
    if (!r) return "gen " + std::to_string(gen) + " (no record)";
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "gen %llu (writer %u, blocks %llu+%u, sent %s, done +%.1f ms, %s%s)",
                  static_cast<unsigned long long>(gen), r->writer,
                  static_cast<unsigned long long>(r->first_block), r->blocks,
                  Clock(r->sent_us).c_str(), static_cast<double>(r->done_us - r->sent_us) / 1000.0,
                  r->error == 0 ? "acknowledged" : ("failed: " + std::to_string(r->error)).c_str(),
                  r->buffered ? ", buffered" : "");
    return buf;
}

void Verifier::Print(const ReadSpan& span, uint64_t first, uint64_t count, const char* data,
                     const Window& w) {
    const Decoded d = Decode(data);
    std::string found = Describe(d);
    if (d.found == Found::kStamp || d.found == Found::kTorn) {
        found += " = " + DescribeGen(d.stamp.gen);
    }
    if (d.found == Found::kTorn || d.found == Found::kGarbage) {
        const uint32_t owner = ledger_.Owner(first);
        found += "; " + Provenance(data, {first, owner, w.lo, ledger_.run()},
                                   {first, owner, w.hi, ledger_.run()})
                            .parts;
    }
    std::lock_guard lock(mu_);
    if (lines_++ >= max_lines_) return;
    std::printf(
        "violation [%s]: blocks %llu+%llu (byte %llu) of writer %u: expected gen %llu..%llu, "
        "last acknowledged %s; found %s; read %llu+%llu sent %s, answered %s\n",
        phase_.c_str(), static_cast<unsigned long long>(first),
        static_cast<unsigned long long>(count), static_cast<unsigned long long>(first * kBlock),
        ledger_.Owner(first), static_cast<unsigned long long>(w.lo),
        static_cast<unsigned long long>(w.hi), DescribeGen(w.lo).c_str(), found.c_str(),
        static_cast<unsigned long long>(span.block), static_cast<unsigned long long>(span.blocks),
        Clock(span.start_us).c_str(), Clock(span.end_us).c_str());
    std::fflush(stdout);
}

void Verifier::ReadFailed(const ReadSpan& span, int error) {
    std::lock_guard lock(mu_);
    ++read_errors_;
    if (lines_++ >= max_lines_) return;
    std::printf("read error [%s]: blocks %llu+%llu sent %s: %s\n", phase_.c_str(),
                static_cast<unsigned long long>(span.block),
                static_cast<unsigned long long>(span.blocks), Clock(span.start_us).c_str(),
                error < 0 ? "short read" : std::strerror(error));
    std::fflush(stdout);
}

uint64_t Verifier::violations() const {
    std::lock_guard lock(mu_);
    return violations_;
}
uint64_t Verifier::checked() const {
    std::lock_guard lock(mu_);
    return checked_;
}
uint64_t Verifier::torn_while_written() const {
    std::lock_guard lock(mu_);
    return torn_;
}
uint64_t Verifier::read_errors() const {
    std::lock_guard lock(mu_);
    return read_errors_;
}

bool VerifyAll(int fd, const Ledger& ledger, Verifier& verifier) {
    constexpr uint64_t kPiece = (1u << 20) / kBlock;
    void* raw = nullptr;
    if (posix_memalign(&raw, 4096, kPiece * kBlock) != 0) return false;
    std::unique_ptr<char, decltype(&std::free)> buf(static_cast<char*>(raw), &std::free);
    std::vector<Window> windows(kPiece);
    bool ok = true;
    const uint64_t end = ledger.first_block() + ledger.blocks();
    for (uint64_t b = ledger.first_block(); b < end; b += kPiece) {
        ReadSpan span{b, std::min(kPiece, end - b), WallUs(), 0};
        for (uint64_t i = 0; i < span.blocks; ++i) {
            windows[i] = {ledger.Floor(b + i), ledger.Issued(b + i)};
        }
        const ssize_t n =
            pread(fd, buf.get(), span.blocks * kBlock, static_cast<off_t>(b * kBlock));
        span.end_us = WallUs();
        if (n != static_cast<ssize_t>(span.blocks * kBlock)) {
            verifier.ReadFailed(span, n < 0 ? errno : -1);
            ok = false;
            continue;
        }
        verifier.Check(span, buf.get(), windows.data());
    }
    return ok;
}

}  // namespace lunfs::check
