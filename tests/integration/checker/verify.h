// Judging blocks read back against the ledger: each must hold its own number, its owner's stamp,
// this run's id and a generation the ledger allows (zeros only for a block never written). A
// violation is printed at once, one line per run of neighbouring blocks that went wrong alike,
// with the writes involved (who, where, when, outcome) and the read's own times, so that it can
// be laid beside the daemon's log and the faults' timeline.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "tests/integration/checker/ledger.h"

namespace lunfs::check {

int64_t WallUs();                    // now, microseconds since the epoch
std::string Clock(int64_t wall_us);  // "HH:MM:SS.mmm", local time

// The acceptable generations of one block for one read: [lo, hi].
struct Window {
    uint64_t lo = 0;
    uint64_t hi = 0;
};

struct ReadSpan {
    uint64_t block = 0;  // the first block read
    uint64_t blocks = 0;
    int64_t start_us = 0;  // when the read was sent and answered
    int64_t end_us = 0;
};

// Thread-safe: every method may be called from any thread.
class Verifier {
  public:
    Verifier(const Ledger& ledger, std::string phase, int max_lines = 40);
    // `data` holds the blocks of `span`; windows[i] is what block span.block + i may hold.
    // Returns the number of blocks in violation.
    uint64_t Check(const ReadSpan& span, const char* data, const Window* windows);
    // A read that failed: counted and printed, not a violation.
    void ReadFailed(const ReadSpan& span, int error);
    uint64_t violations() const;
    uint64_t checked() const;
    uint64_t read_errors() const;
    uint64_t torn_while_written() const;
    std::string DescribeGen(uint64_t gen) const;  // the write of `gen`, for reports

  private:
    enum class Verdict { kGood, kTornWhileWritten, kBad };
    // A block read while a write to it was in flight may be a mix of the old and the new
    // version (a read overlapping a write is not atomic): counted, printed, not a violation.
    Verdict Judge(uint64_t block, const char* data, const Window& w) const;
    void NoteTear(const ReadSpan& span, uint64_t block, const char* data, const Window& w);
    void Print(const ReadSpan& span, uint64_t first, uint64_t count, const char* data,
               const Window& w);

    const Ledger& ledger_;
    const std::string phase_;
    const int max_lines_;
    mutable std::mutex mu_;
    uint64_t violations_ = 0;   // guarded by mu_
    uint64_t checked_ = 0;      // guarded by mu_
    uint64_t torn_ = 0;         // guarded by mu_
    uint64_t read_errors_ = 0;  // guarded by mu_
    int lines_ = 0;             // guarded by mu_
};

// Reads `blocks` blocks from `first` of `fd` in 1 MiB O_DIRECT-sized pieces and checks each
// against its floor..issued window (nothing may be in flight). Returns false on a read error.
bool VerifyAll(int fd, const Ledger& ledger, Verifier& verifier);

}  // namespace lunfs::check
