#include "tools/status_view.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace lunfs {

namespace {

constexpr double kMinScale = 1 << 20;  // a full bar is at least 1 MiB/s

uint64_t U(const nlohmann::json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<uint64_t>() : 0;
}

std::string S(const nlohmann::json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string LunHeader(const nlohmann::json& lun) {
    const nlohmann::json fence = lun.value("fence", nlohmann::json::object());
    std::string out = fmt::format(
        "{}  {}  {} {}  {} MiB, {} B blocks{}  policy {}  requests {} (failed {})"
        "  queued {}\n  fence {} ({}); {} confirmed, {} not, {} range(s) waiting",
        S(lun, "file"), S(lun, "identity"), S(lun, "vendor"), S(lun, "product"),
        U(lun, "capacity_bytes") >> 20, U(lun, "block_size"),
        lun.value("read_only", false) ? ", read-only" : "", S(lun, "policy"), U(lun, "requests"),
        U(lun, "failed_requests"), U(lun, "queued_extents"), S(fence, "mode"), S(fence, "why"),
        U(fence, "confirmed"), U(fence, "failures"), U(fence, "fenced_ranges"));
    // The cluster key of `lunfs reservation register`, when one is registered.
    if (const std::string key = S(fence, "host_key"); !key.empty()) out += "\n  host key " + key;
    return out;
}

// A bar of `cells` cells filled to rate / scale.
std::string Bar(double rate, double scale, int cells, bool utf8) {
    const int full = static_cast<int>(std::lround(std::clamp(rate / scale, 0.0, 1.0) * cells));
    std::string out;
    for (int i = 0; i < cells; ++i) {
        if (utf8) {
            out += i < full ? "\u2588" : "\u00b7";
        } else {
            out += i < full ? '#' : '.';
        }
    }
    return out;
}

std::string Cut(std::string line, int width) {
    // Counts bytes, which is columns except inside bars, whose width is computed to fit.
    if (static_cast<int>(line.size()) > width && line.find('\xe2') == std::string::npos) {
        line.resize(static_cast<size_t>(std::max(width, 0)));
    }
    return line;
}

std::string Mib(uint64_t bytes) {
    return fmt::format("{:.1f}", static_cast<double>(bytes) / (1 << 20));
}

// "cache read: 12.0 of 64.0 MiB, 3.1 MiB dirty, hits 120.0 MiB, ..." or "" without a cache.
std::string CacheLine(const nlohmann::json& lun) {
    const auto it = lun.find("cache");
    if (it == lun.end() || !it->is_object()) return "";
    const nlohmann::json& c = *it;
    if (S(c, "mode") == "none") return "  cache none\n";
    std::string line = fmt::format(
        "  cache {}: {} of {} MiB held, {} MiB dirty; read {} MiB from memory, {} MiB from the "
        "LUN, {} MiB ahead",
        S(c, "mode"), Mib(U(c, "cached_bytes")), Mib(U(c, "capacity_bytes")),
        Mib(U(c, "dirty_bytes")), Mib(U(c, "read_hit_bytes")), Mib(U(c, "read_miss_bytes")),
        Mib(U(c, "readahead_bytes")));
    if (S(c, "mode") == "writeback") {
        line += fmt::format("; written back {} MiB, {} error(s)", Mib(U(c, "written_back_bytes")),
                            U(c, "writeback_errors"));
    }
    return line + "\n";
}

// "    cannot connect to ...: ...; next attempt in 4 s (attempt 3)" under a path that has not
// logged in since the mount; "" for the others.
std::string PendingLine(const nlohmann::json& p) {
    if (S(p, "use") != "pending") return "";
    const auto next = p.find("next_attempt_in_s");
    if (next == p.end() || !next->is_number()) {
        return fmt::format("    {}: {}\n", S(p, "state"), S(p, "error"));
    }
    return fmt::format("    {}; next attempt in {:.0f} s (attempts so far: {})\n", S(p, "error"),
                       std::ceil(next->get<double>()), U(p, "attempts"));
}

// "    held back after its failure; rejoins in 3.2 s if it stays up" under a path on probation;
// "" for the others.
std::string ProbationLine(const nlohmann::json& p) {
    if (S(p, "use") != "probation") return "";
    return fmt::format("    held back after its failure; rejoins in {:.1f} s if it stays up\n",
                       static_cast<double>(U(p, "rejoins_in_ms")) / 1000);
}

}  // namespace

std::string FormatRate(double bps) {
    if (bps >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB/s", bps / (1 << 30));
    if (bps >= 1024.0 * 1024) return fmt::format("{:.1f} MiB/s", bps / (1 << 20));
    if (bps >= 1024.0) return fmt::format("{:.0f} KiB/s", bps / 1024);
    return fmt::format("{:.0f} B/s", bps);
}

std::string RenderStatusTable(const nlohmann::json& doc) {
    if (!doc.is_object() || !doc.contains("luns") || !doc["luns"].is_array()) return "";
    std::string out;
    const nlohmann::json pending = doc.value("pending_luns", nlohmann::json::array());
    size_t width = 4;
    for (const auto* list : {&doc["luns"], &pending}) {
        for (const auto& lun : *list) {
            for (const auto& p : lun.value("paths", nlohmann::json::array())) {
                width = std::max(width, S(p, "url").size());
            }
        }
    }
    const std::string row = fmt::format(
        "  {{:<{}}} {{:<10}} {{:<9}} {{:>11}} {{:>11}} {{:>9}} {{:>9}} {{:>5}} {{:>8}} {{:>8}} "
        "{{:>7}} {{:>8}}\n",
        width);
    for (const auto& lun : doc["luns"]) {
        out += LunHeader(lun) + "\n";
        out += CacheLine(lun);
        out +=
            fmt::format(fmt::runtime(row), "path", "state", "use", "read/s", "write/s", "read MiB",
                        "writ MiB", "infl", "lat us", "p99 us", "retries", "failures");
        for (const auto& p : lun.value("paths", nlohmann::json::array())) {
            out += fmt::format(fmt::runtime(row), S(p, "url"), S(p, "state"), S(p, "use"),
                               FormatRate(static_cast<double>(U(p, "read_bps"))),
                               FormatRate(static_cast<double>(U(p, "write_bps"))),
                               Mib(U(p, "bytes_read")), Mib(U(p, "bytes_written")),
                               U(p, "in_flight"), U(p, "latency_ewma_us"), U(p, "latency_p99_us"),
                               U(p, "retries"), U(p, "failures"));
            out += PendingLine(p) + ProbationLine(p);
        }
    }
    for (const auto& lun : pending) {
        out += fmt::format("{}  not mounted yet: none of its URLs has logged in\n", S(lun, "file"));
        for (const auto& p : lun.value("paths", nlohmann::json::array())) {
            out += fmt::format("  {}  {}\n", S(p, "url"), S(p, "state"));
            out += PendingLine(p);
        }
    }
    if (!S(doc, "metrics").empty()) {
        out += fmt::format("metrics: http://{}/metrics\n", S(doc, "metrics"));
    }
    if (!S(doc, "log").empty()) out += fmt::format("log: {}\n", S(doc, "log"));
    return out;
}

std::vector<std::string> RenderWatchFrame(const nlohmann::json& doc, const std::string& mountpoint,
                                          WatchStyle& style) {
    std::vector<std::string> lines;
    const int width = std::max(style.width, 40);
    for (const auto& lun : doc.value("luns", nlohmann::json::array())) {
        for (const auto& p : lun.value("paths", nlohmann::json::array())) {
            style.scale_bps =
                std::max({style.scale_bps, kMinScale, static_cast<double>(U(p, "read_bps")),
                          static_cast<double>(U(p, "write_bps"))});
        }
    }
    lines.push_back(Cut(fmt::format("lunfs status {}   full bar = {}   (q quits)", mountpoint,
                                    FormatRate(style.scale_bps)),
                        width));
    // Path line: name, then "R <bar> rate  W <bar> rate", then counters.
    const int cells = std::clamp((width - 36) / 2, 4, 40);
    for (const auto& lun : doc.value("luns", nlohmann::json::array())) {
        lines.push_back("");
        lines.push_back(Cut(LunHeader(lun), width));
        for (const auto& p : lun.value("paths", nlohmann::json::array())) {
            const double r = static_cast<double>(U(p, "read_bps"));
            const double w = static_cast<double>(U(p, "write_bps"));
            lines.push_back(
                Cut(fmt::format("  {}  {} / {}", S(p, "url"), S(p, "state"), S(p, "use")), width));
            if (std::string why = PendingLine(p); !why.empty()) {
                why.pop_back();
                lines.push_back(Cut(why, width));
                continue;
            }
            lines.push_back(fmt::format("    R {} {:>11}  W {} {:>11}",
                                        Bar(r, style.scale_bps, cells, style.utf8), FormatRate(r),
                                        Bar(w, style.scale_bps, cells, style.utf8), FormatRate(w)));
            lines.push_back(
                Cut(fmt::format("    in flight {}  latency {} us (p99 {} us)  "
                                "retries {}  failures {}",
                                U(p, "in_flight"), U(p, "latency_ewma_us"), U(p, "latency_p99_us"),
                                U(p, "retries"), U(p, "failures")),
                    width));
        }
    }
    for (const auto& lun : doc.value("pending_luns", nlohmann::json::array())) {
        lines.push_back("");
        lines.push_back(
            Cut(fmt::format("{}  not mounted yet: none of its URLs has logged in", S(lun, "file")),
                width));
        for (const auto& p : lun.value("paths", nlohmann::json::array())) {
            lines.push_back(Cut(fmt::format("  {}  {}", S(p, "url"), S(p, "state")), width));
            std::string why = PendingLine(p);
            if (!why.empty()) why.pop_back();
            lines.push_back(Cut(why, width));
        }
    }
    return lines;
}

}  // namespace lunfs
