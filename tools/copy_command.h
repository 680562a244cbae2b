// `lunfs copy SRC DST`: copies an image into or out of a LUN file, or LUN to LUN, with several
// large requests in flight so that a LUN mounted over several paths moves data over all of them,
// and shows progress, throughput and the time left.
#pragma once

#include <cstdint>
#include <string>

namespace lunfs {

struct CopyCommandOptions {
    std::string source;
    std::string destination;
    unsigned jobs = 4;              // requests in flight
    unsigned block_kib = 4096;      // bytes per request
    std::string progress = "auto";  // auto, bar, lines, none
};

// A destination inside a lunfs mount keeps its size (the LUN's): the source goes over its start
// and must fit. Any other destination is created or truncated to the source's size. Ends with
// fsync (SYNCHRONIZE CACHE on a LUN). Exit code 0, 1 on an I/O error or a source that does not
// fit, 2 for bad input.
int RunCopy(const CopyCommandOptions& options);

// One progress report: with `bar`, "[#####.....]  45%  1.1 GiB of 2.5 GiB  180 MiB/s  ETA 0:07"
// fitted to `width` columns; without, the same without the bar.
std::string ProgressLine(uint64_t done, uint64_t total, double elapsed_s, int width, bool bar);

// "0:07", "1:02:03".
std::string FormatDuration(double seconds);

}  // namespace lunfs
