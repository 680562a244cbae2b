// The soak: the fault suite's workload for a long time (LUNFS_SOAK_SECONDS, 60 by default; an
// hour before a release) while faults of every kind hit at random: a path black-holed, reset,
// flapping or slowed, LUN resets from another initiator, the target frozen or restarted, all
// paths down for less than --no-path-timeout. The run must end with no I/O error, no verification
// error, no failed request and the mount's data equal to the target's. LUNFS_SOAK_SEED repeats a
// run's sequence of faults (each run prints its seed). tests/soak/run runs it.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "tests/integration/fio.h"
#include "tests/integration/harness.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int EnvInt(const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoi(v) : fallback;
}

class Soak {
  public:
    Soak(Lab& lab, uint32_t seed) : lab_(lab), random_(seed) {}

    // Applies one random fault for a few seconds and heals it; returns its name.
    std::string OneFault() {
        const std::vector<int> ports = lab_.Ports();
        const int port = ports[Pick(ports.size())];
        const auto hold = std::chrono::milliseconds(2000 + Pick(6000));
        switch (Pick(8)) {
            case 0: {
                PortFault f({port}, true);
                std::this_thread::sleep_for(hold);
                return Checked(f.ok(), "path black-holed");
            }
            case 1: {
                PortFault f({port}, false);
                std::this_thread::sleep_for(hold);
                return Checked(f.ok(), "path reset");
            }
            case 2: {
                PortFlapper f({port}, 1s, 1500ms);
                std::this_thread::sleep_for(hold);
                return Checked(f.ok(), "path flapping");
            }
            case 3: {
                PortSlow f({port}, 2000);
                std::this_thread::sleep_for(hold);
                return Checked(f.ok(), "path slowed");
            }
            case 4:
                return Checked(lab_.LunReset().exit_code == 0, "LUN reset");
            case 5: {
                const bool frozen = lab_.Freeze();
                std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(hold, 4s));
                return Checked(frozen && lab_.Thaw(), "target frozen");
            }
            case 6:
                return Checked(
                    lab_.Restart(static_cast<double>(1 + Pick(3)), Pick(2) == 0).exit_code == 0,
                    "target restarted");
            default: {
                PortFault f(ports, true);
                std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(hold, 5s));
                return Checked(f.ok(), "all paths down");
            }
        }
    }
    std::chrono::milliseconds Pause() { return std::chrono::milliseconds(2000 + Pick(4000)); }

  private:
    size_t Pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(random_); }
    static std::string Checked(bool ok, const std::string& name) {
        return ok ? name : name + " (could not be applied)";
    }

    Lab& lab_;
    std::mt19937 random_;
};

bool AllSessionsUp(const Mount& mount, std::chrono::seconds limit) {
    for (const auto end = Clock::now() + limit; Clock::now() < end;) {
        const nlohmann::json st = StatsJson(mount);
        bool all = !st.is_discarded() && st.contains("luns");
        if (all) {
            for (const auto& p : st["luns"][0]["paths"]) all = all && p["state"] == "up";
        }
        if (all) return true;
        std::this_thread::sleep_for(200ms);
    }
    return false;
}

using SoakTest = IntegrationTest;

TEST_F(SoakTest, VerifiedIoSurvivesRandomFaultsOfEveryKind) {
    const int seconds = EnvInt("LUNFS_SOAK_SECONDS", 60);
    const uint32_t seed = static_cast<uint32_t>(EnvInt("LUNFS_SOAK_SEED", std::random_device{}()));
    std::printf("soak: %d s, seed %u\n", seconds, seed);
    LabOptions lo;
    lo.portals = 4;
    lo.block_size = 4096;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls());
    ASSERT_TRUE(mount.ok()) << mount.result().output;

    FioJob job;
    job.file = mount.File();
    job.dir = dir_.path();
    job.seconds = seconds;
    job.seed = seed;
    job.gap_log = seconds <= 300;
    auto fio = std::async(std::launch::async, [job] { return RunFio(job); });
    const auto start = Clock::now();
    const auto faults_end = start + std::chrono::seconds(seconds) - 15s;  // end on a healthy LUN
    Soak soak(lab, seed);
    std::map<std::string, int> applied;
    while (Clock::now() < faults_end) {
        std::this_thread::sleep_for(soak.Pause());
        if (Clock::now() >= faults_end) break;
        const std::string fault = soak.OneFault();
        std::printf("soak: %6.1f s  %s\n",
                    std::chrono::duration<double>(Clock::now() - start).count(), fault.c_str());
        std::fflush(stdout);
        ++applied[fault];
    }
    const FioOutcome out = fio.get();
    for (const auto& [name, count] : applied) {
        EXPECT_EQ(name.find("could not"), std::string::npos) << name;
        Report("faults: " + name, count);
    }
    EXPECT_TRUE(out.ok()) << out.Summary() << "\n" << out.run.output;
    Report("max_io_ms", out.max_latency_ms);
    if (job.gap_log) Report("max_gap_ms", out.max_gap_ms);
    Report("ios", static_cast<double>(out.ios));
    const nlohmann::json st = StatsJson(mount);
    ASSERT_FALSE(st.is_discarded());
    EXPECT_EQ(st["luns"][0]["failed_requests"], 0) << st.dump();
    EXPECT_EQ(CompareWithBacking(mount.File(), lab.Backing(), 0, FioJob::Span()), "");
    // Every session is back (the engine may still hold a flapping path out for its window).
    EXPECT_TRUE(AllSessionsUp(mount, 30s)) << StatsJson(mount).dump();
}

}  // namespace
}  // namespace lunfs::test
