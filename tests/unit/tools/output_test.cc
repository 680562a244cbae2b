// What lunfs prints: Prometheus text, status tables and watch frames, progress lines, sizes.
#include <gtest/gtest.h>

#include "tools/copy_command.h"
#include "tools/discover_command.h"
#include "tools/metrics_server.h"
#include "tools/status_view.h"

namespace lunfs {
namespace {

StatsSnapshot Snapshot() {
    StatsSnapshot s;
    StatsSnapshot::Lun lun;
    lun.file = "vm\"1";
    lun.stats.identity = "naa.6001";
    lun.stats.capacity = 1 << 30;
    lun.stats.requests = 12;
    PathStats p;
    p.name = "iscsi://192.0.2.10:3260/iqn.t:a/1";
    p.path_state = "up";
    p.slot_state = "active";
    p.counters.bytes_read = 4096;
    p.counters.retries = 3;
    p.in_flight = 2;
    p.latency_ewma_us = 1500;
    lun.stats.paths.push_back(p);
    p.name = "iscsi://192.0.2.11:3260/iqn.t:a/1";
    p.path_state = "down";
    p.slot_state = "down";
    lun.stats.paths.push_back(p);
    s.luns.push_back(lun);
    return s;
}

TEST(OutputTest, PrometheusTextHasHelpTypeAndOneSamplePerPathWithEscapedLabels) {
    const std::string text = RenderPrometheus(Snapshot());
    EXPECT_NE(text.find("# TYPE lunfs_path_read_bytes_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("# TYPE lunfs_path_in_flight gauge\n"), std::string::npos);
    EXPECT_NE(text.find("lunfs_path_read_bytes_total{lun=\"vm\\\"1\",path=\"iscsi://"
                        "192.0.2.10:3260/iqn.t:a/1\"} 4096\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("lunfs_path_up{lun=\"vm\\\"1\",path=\"iscsi://192.0.2.11:3260/iqn.t:a/1\"} "
                        "0\n"),
              std::string::npos);
    EXPECT_NE(text.find("lunfs_path_latency_seconds{lun=\"vm\\\"1\",path=\"iscsi://192.0.2.10:3260/"
                        "iqn.t:a/1\"} 0.0015\n"),
              std::string::npos);
    EXPECT_NE(text.find("lunfs_lun_requests_total{lun=\"vm\\\"1\",identity=\"naa.6001\"} 12\n"),
              std::string::npos);
    // Every line is a comment or "name{labels} value".
    size_t start = 0;
    while (start < text.size()) {
        const size_t end = text.find('\n', start);
        const std::string line = text.substr(start, end - start);
        EXPECT_TRUE(line.starts_with("# ") ||
                    (line.starts_with("lunfs_") && line.find("} ") != std::string::npos))
            << line;
        start = end + 1;
    }
}

TEST(OutputTest, MetricsListenOnlyOnLoopbackUnlessAllowed) {
    Result<MetricsAddress> a = ParseMetricsAddress("127.0.0.1:9464", false);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 9464);
    EXPECT_TRUE(ParseMetricsAddress("[::1]:0", false).ok());
    EXPECT_TRUE(ParseMetricsAddress("localhost:9464", false).ok());
    EXPECT_FALSE(ParseMetricsAddress("0.0.0.0:9464", false).ok());
    EXPECT_FALSE(ParseMetricsAddress("192.0.2.1:9464", false).ok());
    EXPECT_TRUE(ParseMetricsAddress("0.0.0.0:9464", true).ok());
    EXPECT_FALSE(ParseMetricsAddress("127.0.0.1", false).ok());
    EXPECT_FALSE(ParseMetricsAddress("127.0.0.1:70000", false).ok());
    EXPECT_FALSE(ParseMetricsAddress("example.org:80", true).ok());
    EXPECT_TRUE(ParseMetricsAddress("", false)->host.empty());
}

nlohmann::json StatsDoc() {
    return nlohmann::json::parse(R"({"pid": 1, "metrics": "127.0.0.1:9464", "luns": [{
        "file": "lun1", "identity": "naa.1", "vendor": "V", "product": "P",
        "capacity_bytes": 268435456, "block_size": 512, "read_only": false, "policy": "spread",
        "requests": 5, "failed_requests": 0, "queued_extents": 0,
        "cache": {"mode": "writeback", "capacity_bytes": 67108864, "cached_bytes": 12582912,
                  "dirty_bytes": 1048576, "read_hit_bytes": 2097152, "read_miss_bytes": 3145728,
                  "readahead_bytes": 4194304, "written_back_bytes": 5242880,
                  "writeback_errors": 1}, "paths": [
          {"url": "iscsi://192.0.2.10:3260/iqn.t:a/1", "state": "up", "use": "active",
           "read_bps": 52428800, "write_bps": 0, "bytes_read": 3145728, "in_flight": 3, "latency_ewma_us": 900,
           "latency_p99_us": 2048, "retries": 1, "failures": 2},
          {"url": "iscsi://192.0.2.11:3260/iqn.t:a/1", "state": "down", "use": "down",
           "read_bps": 0, "write_bps": 10485760, "in_flight": 0, "latency_ewma_us": 0,
           "latency_p99_us": 0, "retries": 0, "failures": 7}]}]})");
}

TEST(OutputTest, StatusTableShowsEveryPathWithRatesAndCounters) {
    const std::string table = RenderStatusTable(StatsDoc());
    EXPECT_NE(table.find("lun1  naa.1  V P  256 MiB, 512 B blocks  policy spread"),
              std::string::npos)
        << table;
    EXPECT_NE(table.find("iscsi://192.0.2.10:3260/iqn.t:a/1 up"), std::string::npos) << table;
    EXPECT_NE(table.find("50.0 MiB/s"), std::string::npos);
    EXPECT_NE(table.find("10.0 MiB/s"), std::string::npos);
    EXPECT_NE(table.find("      3.0       0.0 "), std::string::npos) << table;  // bytes so far
    EXPECT_NE(table.find("metrics: http://127.0.0.1:9464/metrics"), std::string::npos);
    EXPECT_NE(table.find("  cache writeback: 12.0 of 64.0 MiB held, 1.0 MiB dirty; read 2.0 MiB "
                         "from memory, 3.0 MiB from the LUN, 4.0 MiB ahead; written back 5.0 MiB, "
                         "1 error(s)\n"),
              std::string::npos)
        << table;
    EXPECT_EQ(RenderStatusTable(nlohmann::json::parse("[]")), "");
}

TEST(OutputTest, PathsNotLoggedInShowAsDownWithWhyAndTheNextAttempt) {
    StatsSnapshot snap = Snapshot();
    PathStats pending;
    pending.name = "iscsi://192.0.2.12:3260/iqn.t:a/1";
    pending.path_state = "down";
    pending.slot_state = "pending";
    snap.pending.emplace_back("vm\"1", pending);
    const std::string text = RenderPrometheus(snap);
    EXPECT_NE(text.find("lunfs_path_up{lun=\"vm\\\"1\",path=\"iscsi://192.0.2.12:3260/iqn.t:a/1\"} "
                        "0\n"),
              std::string::npos)
        << text;

    nlohmann::json doc = StatsDoc();
    doc["luns"][0]["paths"].push_back({{"url", "iscsi://192.0.2.12:3260/iqn.t:a/1"},
                                       {"state", "down"},
                                       {"use", "pending"},
                                       {"error", "cannot connect to 192.0.2.12:3260: refused"},
                                       {"attempts", 3},
                                       {"next_attempt_in_s", 3.2}});
    doc["pending_luns"] = {{{"file", "away"},
                            {"paths",
                             {{{"url", "iscsi://192.0.2.13:3260/iqn.t:b/1"},
                               {"state", "refused"},
                               {"use", "pending"},
                               {"error", "it reaches LUN naa.1, which is also LUN 'lun1'"},
                               {"attempts", 1}}}}}};
    const std::string table = RenderStatusTable(doc);
    EXPECT_NE(table.find("iscsi://192.0.2.12:3260/iqn.t:a/1 down       pending"), std::string::npos)
        << table;
    EXPECT_NE(table.find("    cannot connect to 192.0.2.12:3260: refused; next attempt in 4 s "
                         "(attempts so far: 3)\n"),
              std::string::npos)
        << table;
    EXPECT_NE(table.find("away  not mounted yet: none of its URLs has logged in\n"
                         "  iscsi://192.0.2.13:3260/iqn.t:b/1  refused\n"
                         "    refused: it reaches LUN naa.1, which is also LUN 'lun1'\n"),
              std::string::npos)
        << table;
}

TEST(OutputTest, WatchFrameDrawsBarsScaledToTheFastestPathWithinTheWidth) {
    WatchStyle style;
    style.width = 80;
    style.utf8 = false;
    const std::vector<std::string> lines = RenderWatchFrame(StatsDoc(), "/mnt/san", style);
    EXPECT_DOUBLE_EQ(style.scale_bps, 52428800);
    std::string all;
    for (const std::string& l : lines) {
        EXPECT_LE(l.size(), 80u) << l;
        all += l + "\n";
    }
    const size_t bars = all.find("    R ");
    ASSERT_NE(bars, std::string::npos) << all;
    const std::string first = all.substr(bars, all.find('\n', bars) - bars);
    // The reading path fills its read bar; its write bar is empty.
    EXPECT_NE(first.find("R ####"), std::string::npos) << first;
    EXPECT_NE(first.find("W ....."), std::string::npos) << first;
    EXPECT_NE(all.find("failures 7"), std::string::npos);
}

TEST(OutputTest, ProgressLinesShowPercentSizesRateAndTimeLeft) {
    const std::string line = ProgressLine(1 << 30, 4ull << 30, 8, 100, true);
    EXPECT_TRUE(line.starts_with("[")) << line;
    EXPECT_NE(line.find(" 25%  1 GiB of 4 GiB  128.0 MiB/s  ETA 0:24"), std::string::npos) << line;
    EXPECT_LE(line.size(), 100u);
    EXPECT_EQ(ProgressLine(0, 100, 0, 80, false), "  0%  0 B of 100 B  0 B/s  ETA -:--");
    EXPECT_EQ(FormatDuration(3725), "1:02:05");
    EXPECT_EQ(FormatSize(1536ull << 20), "1.5 GiB");
    EXPECT_EQ(FormatSize(512), "512 B");
    EXPECT_EQ(DeviceTypeName(0), "disk");
    EXPECT_EQ(DeviceTypeName(0x1f), "type 0x1f");
}

}  // namespace
}  // namespace lunfs
