#include "tools/metrics_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <functional>

namespace lunfs {

namespace {

// A label value with \, " and newline escaped, as the exposition format requires.
std::string Escape(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

struct LunMetric {
    const char* name;
    const char* type;
    const char* help;
    std::function<double(const StatsSnapshot::Lun&)> value;
};

struct PathMetric {
    const char* name;
    const char* type;
    const char* help;
    std::function<double(const PathStats&)> value;
};

double D(uint64_t v) { return static_cast<double>(v); }

const std::vector<LunMetric>& LunMetrics() {
    static const std::vector<LunMetric> m = {
        {"lunfs_lun_capacity_bytes", "gauge", "Size of the LUN.",
         [](const auto& l) { return D(l.stats.capacity); }},
        {"lunfs_lun_requests_total", "counter", "Requests the LUN's file served.",
         [](const auto& l) { return D(l.stats.requests); }},
        {"lunfs_lun_failed_requests_total", "counter", "Requests that failed.",
         [](const auto& l) { return D(l.stats.failed_requests); }},
        {"lunfs_lun_queued_extents", "gauge", "Extents waiting for a live path or a retry delay.",
         [](const auto& l) { return D(l.stats.queued_extents); }},
        {"lunfs_fence_confirmed_total", "counter",
         "Fences of failed sessions the target confirmed.",
         [](const auto& l) { return D(l.stats.fences); }},
        {"lunfs_fence_failures_total", "counter", "Fences tried and not confirmed (retried).",
         [](const auto& l) { return D(l.stats.fence_failures); }},
        {"lunfs_fence_waiting_ranges", "gauge", "Completed writes whose bytes wait for a fence.",
         [](const auto& l) { return D(l.stats.fenced_ranges); }},
        {"lunfs_cache_capacity_bytes", "gauge", "Memory the LUN's cache may hold.",
         [](const auto& l) { return D(l.cache.capacity_bytes); }},
        {"lunfs_cache_held_bytes", "gauge", "Memory the LUN's cache holds.",
         [](const auto& l) { return D(l.cache.cached_bytes); }},
        {"lunfs_cache_dirty_bytes", "gauge", "Written data not yet on the LUN (writeback).",
         [](const auto& l) { return D(l.cache.dirty_bytes); }},
        {"lunfs_cache_read_hit_bytes_total", "counter", "Bytes read from memory.",
         [](const auto& l) { return D(l.cache.read_hit_bytes); }},
        {"lunfs_cache_read_miss_bytes_total", "counter", "Bytes read from the LUN for a reader.",
         [](const auto& l) { return D(l.cache.read_miss_bytes); }},
        {"lunfs_cache_readahead_bytes_total", "counter", "Bytes loaded ahead of readers.",
         [](const auto& l) { return D(l.cache.readahead_bytes); }},
        {"lunfs_cache_written_back_bytes_total", "counter", "Dirty bytes written to the LUN.",
         [](const auto& l) { return D(l.cache.written_back_bytes); }},
        {"lunfs_cache_writeback_errors_total", "counter", "Write-backs the LUN refused.",
         [](const auto& l) { return D(l.cache.writeback_errors); }},
    };
    return m;
}

const std::vector<PathMetric>& PathMetrics() {
    static const std::vector<PathMetric> m = {
        {"lunfs_path_up", "gauge", "1 while the path's session is logged in.",
         [](const PathStats& p) { return p.path_state == "up" ? 1.0 : 0.0; }},
        {"lunfs_path_active", "gauge", "1 while the engine sends new extents to the path.",
         [](const PathStats& p) { return p.slot_state == "active" ? 1.0 : 0.0; }},
        {"lunfs_path_reads_total", "counter", "Read extents completed on the path.",
         [](const PathStats& p) { return D(p.counters.reads); }},
        {"lunfs_path_writes_total", "counter", "Write extents completed on the path.",
         [](const PathStats& p) { return D(p.counters.writes); }},
        {"lunfs_path_read_bytes_total", "counter", "Bytes read through the path.",
         [](const PathStats& p) { return D(p.counters.bytes_read); }},
        {"lunfs_path_written_bytes_total", "counter", "Bytes written through the path.",
         [](const PathStats& p) { return D(p.counters.bytes_written); }},
        {"lunfs_path_syncs_total", "counter", "SYNCHRONIZE CACHE commands answered GOOD.",
         [](const PathStats& p) { return D(p.counters.syncs); }},
        {"lunfs_path_retries_total", "counter", "Extents re-sent after failing on the path.",
         [](const PathStats& p) { return D(p.counters.retries); }},
        {"lunfs_path_failures_total", "counter", "Extents that failed on the path.",
         [](const PathStats& p) { return D(p.counters.failures); }},
        {"lunfs_path_resets_total", "counter", "Sessions reset for an overdue extent.",
         [](const PathStats& p) { return D(p.counters.resets); }},
        {"lunfs_path_down_total", "counter", "Times the path went down.",
         [](const PathStats& p) { return D(p.counters.path_failures); }},
        {"lunfs_path_in_flight", "gauge", "Extents in flight on the path.",
         [](const PathStats& p) { return D(p.in_flight); }},
        {"lunfs_path_in_flight_bytes", "gauge", "Bytes in flight on the path.",
         [](const PathStats& p) { return D(p.in_flight_bytes); }},
        {"lunfs_path_latency_seconds", "gauge", "Recent extent latency (moving average).",
         [](const PathStats& p) { return p.latency_ewma_us / 1e6; }},
        {"lunfs_path_latency_p99_seconds", "gauge", "99th percentile of extent latency.",
         [](const PathStats& p) { return p.latency_p99_us / 1e6; }},
        {"lunfs_path_throughput_estimate_bytes_per_second", "gauge",
         "What spread weighs the path by: its throughput while busy, times its balance.",
         [](const PathStats& p) { return p.bytes_per_second; }},
    };
    return m;
}

bool IsLoopback(const std::string& host) {
    if (host == "localhost") return true;
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace

Result<MetricsAddress> ParseMetricsAddress(const std::string& text, bool allow_remote) {
    MetricsAddress out;
    if (text.empty()) return out;
    auto bad = [&](const std::string& why) {
        return Status::Fail(EINVAL, fmt::format("--metrics {}: {}", text, why));
    };
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return bad("give HOST:PORT, e.g. 127.0.0.1:9464");
    std::string host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    const std::string port = text.substr(colon + 1);
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || out.port < 0 ||
        out.port > 65535) {
        return bad("the port must be a number from 0 to 65535");
    }
    in_addr v4{};
    in6_addr v6{};
    if (host != "localhost" && inet_pton(AF_INET, host.c_str(), &v4) != 1 &&
        inet_pton(AF_INET6, host.c_str(), &v6) != 1) {
        return bad("the host must be an IP address or localhost");
    }
    if (!allow_remote && !IsLoopback(host)) {
        return bad(
            "not a loopback address, and the endpoint has no authentication; add "
            "--metrics-allow-remote to listen there anyway");
    }
    out.host = host;
    return out;
}

std::string RenderPrometheus(const StatsSnapshot& snapshot) {
    std::string out;
    for (const LunMetric& m : LunMetrics()) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", m.name, m.help, m.name, m.type);
        for (const StatsSnapshot::Lun& lun : snapshot.luns) {
            out += fmt::format("{}{{lun=\"{}\",identity=\"{}\"}} {}\n", m.name, Escape(lun.file),
                               Escape(lun.stats.identity), m.value(lun));
        }
    }
    for (const PathMetric& m : PathMetrics()) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", m.name, m.help, m.name, m.type);
        for (const StatsSnapshot::Lun& lun : snapshot.luns) {
            for (const PathStats& p : lun.stats.paths) {
                out += fmt::format("{}{{lun=\"{}\",path=\"{}\"}} {}\n", m.name, Escape(lun.file),
                                   Escape(p.name), m.value(p));
            }
        }
        for (const auto& [file, p] : snapshot.pending) {
            out += fmt::format("{}{{lun=\"{}\",path=\"{}\"}} {}\n", m.name, Escape(file),
                               Escape(p.name), m.value(p));
        }
    }
    return out;
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const MetricsAddress& address,
                                                            const StatsSampler& sampler) {
    std::unique_ptr<MetricsServer> self(new MetricsServer());
    self->server_ = std::make_unique<httplib::Server>();
    httplib::Server& server = *self->server_;
    server.new_task_queue = [] { return new httplib::ThreadPool(1); };
    server.Get("/metrics", [&sampler](const httplib::Request&, httplib::Response& response) {
        response.set_content(RenderPrometheus(*sampler.Latest()),
                             "text/plain; version=0.0.4; charset=utf-8");
    });
    server.Get("/", [](const httplib::Request&, httplib::Response& response) {
        response.set_content("lunfs: metrics at /metrics\n", "text/plain");
    });
    int port = address.port;
    if (port == 0) {
        port = server.bind_to_any_port(address.host);
    } else if (!server.bind_to_port(address.host, port)) {
        port = -1;
    }
    if (port <= 0) {
        return Status::Fail(EADDRINUSE, fmt::format("cannot listen on {}:{} for metrics",
                                                    address.host, address.port));
    }
    const bool v6 = address.host.find(':') != std::string::npos;
    self->address_ =
        v6 ? fmt::format("[{}]:{}", address.host, port) : fmt::format("{}:{}", address.host, port);
    self->thread_ = std::thread([&server, done = &self->done_] {
        server.listen_after_bind();
        done->store(true);
    });
    return self;
}

MetricsServer::~MetricsServer() {
    // stop() does nothing before the loop runs, and must be called once: wait for one or the
    // other.
    while (!server_->is_running() && !done_.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!done_.load()) server_->stop();
    thread_.join();
}

}  // namespace lunfs
