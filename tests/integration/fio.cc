#include "tests/integration/fio.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

namespace lunfs::test {

namespace {

// Per-I/O completion times from fio's latency log (ms since start, one line per I/O).
std::vector<double> CompletionTimes(const std::string& log) {
    std::vector<double> out;
    std::ifstream in(log);
    std::string line;
    while (std::getline(in, line)) out.push_back(std::atof(line.c_str()));
    std::sort(out.begin(), out.end());
    return out;
}

double MaxGap(const std::vector<double>& times, double end_ms) {
    double gap = 0, last = 0;
    for (double t : times) {
        gap = std::max(gap, t - last);
        last = t;
    }
    return std::max(gap, end_ms - last);
}

}  // namespace

std::string FioOutcome::Summary() const {
    return fmt::format(
        "fio exit {} error {}; {} I/Os; longest I/O {:.0f} ms; longest gap {:.0f} ms",
        run.exit_code, error, ios, max_latency_ms, max_gap_ms);
}

FioOutcome RunFio(const FioJob& job) {
    const std::string report = job.dir + "/fio.json";
    const std::string log = job.dir + "/fio";
    const std::string command = fmt::format(
        "fio --name=verify --filename={} --direct=1 --ioengine=libaio --iodepth=16 --numjobs={}"
        " --rw={} --bsrange=512-128k --size={} --offset_increment={} --time_based --runtime={}"
        " --verify=crc32c --verify_backlog=128 --verify_fatal=1 --do_verify=1"
        " --serialize_overlap=1"
        " --group_reporting --randseed={} --verify_state_save=0 --output-format=json"
        " --output={}{}",
        job.file, FioJob::kJobs, job.rw, FioJob::kRegion, FioJob::kStride, job.seconds, job.seed,
        report,
        job.gap_log ? " --write_lat_log=" + log + " --log_avg_msec=0 --per_job_logs=0" : "");
    FioOutcome out;
    out.run = Shell(command);
    std::ifstream in(report);
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    const size_t brace = s.find('{');  // fio may print warnings before its report
    const nlohmann::json j = nlohmann::json::parse(
        brace == std::string::npos ? std::string() : s.substr(brace), nullptr, false);
    if (!j.is_discarded() && j.contains("jobs") && !j["jobs"].empty()) {
        const nlohmann::json& r = j["jobs"][0];
        out.error = r.value("error", -1);
        uint64_t max_ns = 0;
        for (const char* dir : {"read", "write"}) {
            out.ios += r[dir].value("total_ios", uint64_t{0});
            max_ns = std::max(max_ns, r[dir]["lat_ns"].value("max", uint64_t{0}));
        }
        out.max_latency_ms = static_cast<double>(max_ns) / 1e6;
    }
    if (job.gap_log) {
        out.max_gap_ms = MaxGap(CompletionTimes(log + "_clat.log"), job.seconds * 1000.0);
    }
    for (const char* kind : {"_clat.log", "_lat.log", "_slat.log"}) {
        std::remove((log + kind).c_str());
    }
    return out;
}

std::string CompareWithBacking(const std::string& lun_file, const std::string& backing,
                               uint64_t offset, uint64_t length) {
    constexpr uint64_t kChunk = 8ull << 20;
    for (uint64_t at = offset; at < offset + length; at += kChunk) {
        const size_t n = static_cast<size_t>(std::min(kChunk, offset + length - at));
        std::vector<char> through;
        if (!ReadDirect(lun_file, at, n, through)) {
            return fmt::format("reading {} bytes at {} through the mount failed", n, at);
        }
        const std::vector<char> direct = ReadFileRange(backing, at, n);
        if (direct.size() != n) return fmt::format("reading the backing file at {} failed", at);
        const auto diff = std::mismatch(through.begin(), through.end(), direct.begin());
        if (diff.first != through.end()) {
            return fmt::format("the mount and the backing file differ at byte {}",
                               at + static_cast<uint64_t>(diff.first - through.begin()));
        }
    }
    return "";
}

void Report(const std::string& key, double value) {
    ::testing::Test::RecordProperty(key, fmt::format("{:.0f}", value));
    std::printf("[ figure   ] %s = %.0f\n", key.c_str(), value);
    // tools/test collects every test's figures into one results file.
    const char* figures = std::getenv("LUNFS_FIGURES_FILE");
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    if (figures && *figures && test) {
        std::ofstream(figures, std::ios::app) << fmt::format(
            "{}.{}\t{}\t{:.0f}\n", test->test_suite_name(), test->name(), key, value);
    }
}

}  // namespace lunfs::test
