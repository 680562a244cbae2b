// Consistency under faults and load: lunfs_check (tests/integration/checker) rewrites stamped
// blocks through a four-path mount with O_DIRECT writes of 512 B to 2.5 MiB (so that requests
// are split over the paths) while random single-path faults hit and busy loops load every CPU,
// checking every read against the last acknowledged write as it arrives. It then checks the
// whole area through the mount, through the target's backing file (an oracle lunfs has no part
// in), and through a new mount of one path alone. Every cache mode, and several mounts at once.
//
// LUNFS_CHECKER_SECONDS sets how long the checker writes (15 s here; longer before a release),
// LUNFS_CHECKER_INSTANCES how many mounts the parallel case runs, and LUNFS_CHECKER_KEEP_FAILED
// a directory where a failed case leaves its logs (daemon, checker, fault timeline, ledger).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/integration/load.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;

int EnvInt(const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoi(v) : fallback;
}

std::string CheckerBinary() { return LUNFS_CHECK; }

// The lines of the checker's output a report needs: violations, errors and summaries.
std::string Findings(const std::string& output) {
    std::istringstream in(output);
    std::string out;
    for (std::string line; std::getline(in, line);) {
        for (const char* start :
             {"violation", "torn while", "read error", "write failed", "summary", "writer"}) {
            if (line.rfind(start, 0) == 0) {
                out += line + "\n";
                break;
            }
        }
    }
    return out.empty() ? output : out;
}

// "paths: retries R, failures F" summed over the LUN's paths, for the report.
std::string PathCounters(const nlohmann::json& st) {
    if (st.is_discarded() || !st.contains("luns")) return "";
    int retries = 0, failures = 0;
    for (const auto& p : st["luns"][0]["paths"]) {
        retries += p.value("retries", 0);
        failures += p.value("path_failures", 0);
    }
    return fmt::format("paths: {} retries, {} failures\n", retries, failures);
}

// One lab of four portals, its mount, the checker and the faults, in a directory of its own.
struct Instance {
    std::string dir;
    std::string cache;  // none, read or writeback
    int seconds = 15;
    uint32_t seed = 1;
    std::string failure;  // "" when every check held
    std::string report;   // the checker's findings and summaries, the faults' timeline

    void Run();

  private:
    void RunMounted(const Lab& lab);  // the run, then the backing file's check
    void CheckThroughOnePath(const Lab& lab);
    std::string Checker(const std::string& args, const std::string& log);
    void Check(bool ok, const std::string& what) {
        if (!ok && failure.empty()) failure = what;
    }
    void KeepLogs() const;

    std::string ledger_;
    int rc_ = -1;  // the last checker's exit code
};

std::string Instance::Checker(const std::string& args, const std::string& log) {
    const std::string file = dir + "/" + log;
    const CommandResult r = Shell(CheckerBinary() + " " + args + " >" + file +
                                  " 2>&1; rc=$?; cat " + file + "; exit $rc");
    rc_ = r.exit_code;
    report += Findings(r.output);
    return r.output;
}

void Instance::Run() {
    Shell("mkdir -p " + dir);
    ledger_ = dir + "/ledger";
    LabOptions lo;
    lo.portals = 4;
    lo.block_size = 4096;  // 512-byte writes are read-modify-writes
    Lab lab(dir + "/lab", lo);
    Check(lab.ok(), "lab: " + lab.error());
    if (lab.ok()) RunMounted(lab);
    if (lab.ok()) CheckThroughOnePath(lab);
    if (!failure.empty()) KeepLogs();
}

void Instance::RunMounted(const Lab& lab) {
    Mount mount(dir + "/mnt", lab.Urls(), "--cache " + cache);
    Check(mount.ok(), "mount: " + mount.result().output);
    if (!mount.ok()) return;
    const std::string buffered = cache == "writeback" ? " --buffered 4" : "";
    {
        RandomPathFaults faults(lab.Ports(), seed);
        auto run = std::async(std::launch::async, [&] {
            Checker(fmt::format("run --file {} --ledger {} --seconds {} --writers 8 --readers 2 "
                                "--area-mib 48 --seed {}{}",
                                mount.File(), ledger_, seconds, seed, buffered),
                    "run.log");
        });
        std::this_thread::sleep_for(std::chrono::seconds(std::max(1, seconds - 2)));
        faults.Stop();  // the run ends on healthy paths
        run.get();
        report += "faults:\n" + faults.Timeline();
        Check(faults.failed() == 0, "a fault could not be applied");
    }
    Check(rc_ == 0, "checker run exited " + std::to_string(rc_));
    const nlohmann::json st = StatsJson(mount);
    Check(!st.is_discarded() && st.contains("luns") &&
              st["luns"][0].value("failed_requests", -1) == 0,
          "failed requests: " + st.dump());
    report += PathCounters(st);
    // The run ended with an fsync from every writer: the target has it all.
    Checker("verify --phase backing --file " + lab.Backing() + " --ledger " + ledger_,
            "backing.log");
    Check(rc_ == 0, "backing file check exited " + std::to_string(rc_));
    Check(mount.Unmount().exit_code == 0, "unmount failed");
}

void Instance::CheckThroughOnePath(const Lab& lab) {
    Mount one(dir + "/mnt-one-path", {lab.Url(3)}, "--cache none");
    Check(one.ok(), "remount: " + one.result().output);
    if (!one.ok()) return;
    Checker("verify --phase one-path-remount --file " + one.File() + " --ledger " + ledger_,
            "remount.log");
    Check(rc_ == 0, "check through one path exited " + std::to_string(rc_));
}

void Instance::KeepLogs() const {
    const char* keep = std::getenv("LUNFS_CHECKER_KEEP_FAILED");
    if (!keep || !*keep) return;
    const std::string to = fmt::format("{}/{}-{}-{}", keep, cache, getpid(), seed);
    std::ofstream(dir + "/report.txt") << failure << "\n" << report;
    Shell(fmt::format("mkdir -p {0} && cp {1}/*.log {1}/ledger {1}/report.txt {0}/", to, dir));
    std::printf("logs kept in %s\n", to.c_str());
}

void ExpectClean(const Instance& in) {
    std::printf("[%s cache]\n%s", in.cache.c_str(), in.report.c_str());
    EXPECT_EQ(in.failure, "") << in.cache << " cache:\n" << in.report;
}

class ConsistencyTest : public IntegrationTest,
                        public ::testing::WithParamInterface<const char*> {};

TEST_P(ConsistencyTest, LastAcknowledgedWriteWinsUnderPathFaultsAndLoad) {
    BusyLoops busy(2);
    Instance in;
    in.dir = dir_.path() + "/one";
    in.cache = GetParam();
    in.seconds = EnvInt("LUNFS_CHECKER_SECONDS", 15);
    in.seed = std::random_device{}();
    in.Run();
    ExpectClean(in);
}

INSTANTIATE_TEST_SUITE_P(CacheModes, ConsistencyTest,
                         ::testing::Values("none", "read", "writeback"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                             return std::string(p.param);
                         });

using ParallelConsistencyTest = IntegrationTest;

// Several mounts at once, each on a lab of its own with faults of its own, cache modes in turn.
TEST_F(ParallelConsistencyTest, LastAcknowledgedWriteWinsOnSeveralMountsAtOnce) {
    BusyLoops busy(2);
    static const char* const kModes[] = {"none", "read", "writeback"};
    const uint32_t seed = std::random_device{}();
    std::vector<Instance> instances(static_cast<size_t>(EnvInt("LUNFS_CHECKER_INSTANCES", 3)));
    std::vector<std::thread> threads;
    for (size_t i = 0; i < instances.size(); ++i) {
        instances[i].dir = dir_.path() + "/i" + std::to_string(i);
        instances[i].cache = kModes[i % std::size(kModes)];
        instances[i].seconds = EnvInt("LUNFS_CHECKER_SECONDS", 15);
        instances[i].seed = seed + static_cast<uint32_t>(i);
        threads.emplace_back([&in = instances[i]] { in.Run(); });
    }
    for (std::thread& t : threads) t.join();
    for (const Instance& in : instances) ExpectClean(in);
}

}  // namespace
}  // namespace lunfs::test
