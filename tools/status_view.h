// How `lunfs status` shows a mount's stats document (MOUNTPOINT/.lunfs/stats, see
// stats_json.h): a table, and the frames of the live --watch view. Pure text; no terminal I/O.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lunfs {

// The table: per LUN a header line, then one line per path with state, use, throughput each
// way, in flight, latency, p99, retries and failures. Fails (returns "") on a document that
// lacks what it needs.
std::string RenderStatusTable(const nlohmann::json& doc);

struct WatchStyle {
    int width = 80;        // terminal columns
    bool utf8 = true;      // block characters for bars, else '#'
    double scale_bps = 0;  // bytes per second of a full bar; grows to the largest rate seen
};

// One frame of --watch: lines without escapes, each at most style.width columns. Updates
// style.scale_bps.
std::vector<std::string> RenderWatchFrame(const nlohmann::json& doc, const std::string& mountpoint,
                                          WatchStyle& style);

// "12.3 MiB/s", "512 KiB/s", "0 B/s".
std::string FormatRate(double bytes_per_second);

}  // namespace lunfs
