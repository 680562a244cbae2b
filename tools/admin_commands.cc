#include "tools/admin_commands.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace lunfs {

namespace {

bool ReadControl(const std::string& mountpoint, const char* name, std::string& out) {
    std::ifstream in(mountpoint + "/.lunfs/" + name);
    if (!in) return false;
    std::stringstream s;
    s << in.rdbuf();
    out = s.str();
    return true;
}

std::string Mib(uint64_t bytes) {
    return fmt::format("{:.1f}", static_cast<double>(bytes) / (1 << 20));
}

}  // namespace

int RunStatus(const std::string& mountpoint, bool json) {
    std::string text;
    if (!ReadControl(mountpoint, "stats", text)) {
        std::fprintf(stderr, "lunfs: %s is not a lunfs mount\n", mountpoint.c_str());
        return 1;
    }
    if (json) {
        std::fputs(text.c_str(), stdout);
        return 0;
    }
    const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded()) {
        std::fprintf(stderr, "lunfs: %s/.lunfs/stats is not valid JSON\n", mountpoint.c_str());
        return 1;
    }
    for (const auto& lun : doc["luns"]) {
        fmt::print(
            "{}  {}  {} {}  {} MiB, {} B blocks  policy {}  requests {} (failed {})  "
            "queued {}\n",
            lun["file"].get<std::string>(), lun["identity"].get<std::string>(),
            lun["vendor"].get<std::string>(), lun["product"].get<std::string>(),
            lun["capacity_bytes"].get<uint64_t>() >> 20, lun["block_size"].get<uint32_t>(),
            lun["policy"].get<std::string>(), lun["requests"].get<uint64_t>(),
            lun["failed_requests"].get<uint64_t>(), lun["queued_extents"].get<uint64_t>());
        fmt::print("  {:<52} {:<6} {:<9} {:>5} {:>10} {:>10} {:>8} {:>8} {:>8} {:>7} {:>8}\n",
                   "path", "state", "use", "infl", "read MiB", "write MiB", "rate MiB", "lat us",
                   "p99 us", "retries", "failures");
        for (const auto& p : lun["paths"]) {
            fmt::print("  {:<52} {:<6} {:<9} {:>5} {:>10} {:>10} {:>8} {:>8} {:>8} {:>7} {:>8}\n",
                       p["url"].get<std::string>(), p["state"].get<std::string>(),
                       p["use"].get<std::string>(), p["in_flight"].get<uint64_t>(),
                       Mib(p["bytes_read"].get<uint64_t>()),
                       Mib(p["bytes_written"].get<uint64_t>()),
                       Mib(p["throughput_estimate_bps"].get<uint64_t>()),
                       p["latency_ewma_us"].get<uint64_t>(), p["latency_p99_us"].get<uint64_t>(),
                       p["retries"].get<uint64_t>(), p["failures"].get<uint64_t>());
        }
    }
    return 0;
}

int RunPathCommand(const std::string& verb, const std::string& mountpoint, const std::string& file,
                   const std::string& url) {
    const std::string control = mountpoint + "/.lunfs/paths";
    const int fd = open(control.c_str(), O_WRONLY);
    if (fd < 0) {
        std::fprintf(stderr, "lunfs: %s is not a lunfs mount (%s)\n", mountpoint.c_str(),
                     std::strerror(errno));
        return 1;
    }
    const std::string command = fmt::format("{} {} {}\n", verb, file, url);
    const ssize_t n = write(fd, command.data(), command.size());
    const int err = errno;
    close(fd);
    if (n == static_cast<ssize_t>(command.size())) return 0;
    std::string why;
    if (!ReadControl(mountpoint, "paths", why) || why.empty()) why = std::strerror(err);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    std::fprintf(stderr, "lunfs: path %s failed: %s\n", verb.c_str(), why.c_str());
    return 1;
}

}  // namespace lunfs
