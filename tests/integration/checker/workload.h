// The consistency checker's workload: writer threads, each owning a contiguous run of blocks
// (neighbours share the LUN block at each edge), rewrite random ranges of 1 block to
// `max_kib` with stamped blocks again and again, read every other write back at once (as fio's
// verification does) and now and then some other range of their own;
// reader threads read random ranges of everyone's blocks meanwhile. Every block read is checked
// against the ledger as it arrives. At the end every writer syncs and closes, and the whole area
// is read back once more through the file and checked exactly.
#pragma once

#include <cstdint>
#include <string>

namespace lunfs::check {

struct WorkloadOptions {
    std::string file;
    std::string ledger;  // where the ledger is saved at the end ("" for nowhere)
    double seconds = 20;
    int writers = 8;
    int buffered = 0;  // how many of the writers write through a handle without O_DIRECT
    int readers = 2;
    uint64_t offset_mib = 0;  // the area checked: [offset, offset + area)
    uint64_t area_mib = 64;
    uint32_t max_kib = 2560;  // the largest write and read
    uint64_t seed = 1;
};

// Runs the workload; prints violations and a summary line on stdout. Returns the exit code:
// 0 clean, 1 violations, 3 I/O errors without violations.
int RunWorkload(const WorkloadOptions& options);

}  // namespace lunfs::check
