// The fio workload every fault test runs: O_DIRECT random writes with crc32c verification, 4 jobs
// at iodepth 16 with block sizes from 512 B to 128 KiB, each job in its own 24 MiB region (32 MiB
// apart), for a fixed time. Its outcome carries what the fault tests check and report: errors,
// I/O count, the longest single I/O and the longest time in which no I/O completed at all.
#pragma once

#include <cstdint>
#include <string>

#include "tests/integration/harness.h"

namespace lunfs::test {

struct FioJob {
    std::string file;  // the LUN file in the mount
    std::string dir;   // where fio's logs go (a test's own directory)
    int seconds = 10;
    uint32_t seed = 11;
    std::string rw = "randwrite";  // randwrite or randrw
    bool gap_log = true;  // log every I/O to measure the longest gap (too big for hour-long runs)
    static constexpr int kJobs = 4;
    static constexpr uint64_t kRegion = 24ull << 20;  // bytes each job writes
    static constexpr uint64_t kStride = 32ull << 20;  // offset of job i: i * kStride
    // The bytes the jobs cover: [0, Span()).
    static constexpr uint64_t Span() { return (kJobs - 1) * kStride + kRegion; }
};

struct FioOutcome {
    CommandResult run;          // fio's exit code and its own messages
    int error = -1;             // fio's job error (an errno); -1 when its report is unreadable
    uint64_t ios = 0;           // reads and writes completed, verification reads included
    double max_latency_ms = 0;  // the longest single I/O
    double max_gap_ms = 0;      // the longest time in which no I/O completed (with gap_log)

    // No I/O error, no verification error, and some I/O done.
    bool ok() const { return run.exit_code == 0 && error == 0 && ios > 0; }
    std::string Summary() const;  // one line with the figures, for failures and reports
};

// Runs fio as `job` says and waits for it.
FioOutcome RunFio(const FioJob& job);

// Reads [offset, offset + length) of `lun_file` through the mount with O_DIRECT and of the LUN's
// `backing` file directly, and compares them; "" when identical, else where they first differ.
std::string CompareWithBacking(const std::string& lun_file, const std::string& backing,
                               uint64_t offset, uint64_t length);

// Records a figure for the test's report (a gtest property: it lands in the XML output and on
// the console), and appends "Suite.Test<TAB>key<TAB>value" to $LUNFS_FIGURES_FILE when set.
void Report(const std::string& key, double value);

}  // namespace lunfs::test
