// The Prometheus endpoint of a mount (`--metrics HOST:PORT`): GET /metrics answers in the text
// exposition format, with per-LUN and per-path counters and gauges.
//
// It serves from the StatsSampler's snapshot (at most one sampling period old) on one thread of
// its own, so scrapes never take a lock the I/O path uses, however often they come. The endpoint
// has no authentication: it listens on a loopback address unless allow_remote was given.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"
#include "tools/stats_sampler.h"

namespace httplib {
class Server;
}

namespace lunfs {

struct MetricsAddress {
    std::string host;  // numeric IPv4 or IPv6 (without brackets), or "localhost"
    int port = 0;      // 0: any free port
};

// Parses "HOST:PORT" or "[V6]:PORT" ("" gives an empty host: no endpoint). Refuses an address
// that is not loopback unless `allow_remote`.
Result<MetricsAddress> ParseMetricsAddress(const std::string& text, bool allow_remote);

// The text exposition of a snapshot.
std::string RenderPrometheus(const StatsSnapshot& snapshot);

class MetricsServer {
  public:
    static Result<std::unique_ptr<MetricsServer>> Start(const MetricsAddress& address,
                                                        const StatsSampler& sampler);
    ~MetricsServer();  // stops listening and waits for its thread

    const std::string& address() const { return address_; }  // host:port it listens on

  private:
    MetricsServer() = default;
    std::unique_ptr<httplib::Server> server_;
    std::string address_;
    std::atomic<bool> done_{false};  // the listening loop has returned
    std::thread thread_;
};

}  // namespace lunfs
