// A LUN mounts with the paths that answer: portals that cannot be reached at mount time become
// paths in state down, retried in the background until they join; with none reachable the mount
// fails at once unless --wait asks to keep trying; a config LUN that cannot be reached does not
// keep the others from mounting.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/fio.h"
#include "tests/integration/ops_helpers.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using AvailabilityTest = IntegrationTest;

// The path of `lun` (a LUN entry of .lunfs/stats) whose URL is `url`, or null.
nlohmann::json PathOf(const nlohmann::json& lun, const std::string& url) {
    for (const auto& p : lun.value("paths", nlohmann::json::array())) {
        if (p.value("url", "") == url) return p;
    }
    return nullptr;
}

// Waits up to `limit` for the first LUN to have `count` paths, every one in use.
bool WaitPathsActive(const Mount& mount, size_t count, std::chrono::seconds limit) {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
        const nlohmann::json st = StatsJson(mount);
        if (!st.is_discarded() && st.contains("luns") && st["luns"].size() > 0 &&
            st["luns"][0]["paths"].size() == count) {
            bool all = true;
            for (const auto& p : st["luns"][0]["paths"]) all = all && p["use"] == "active";
            if (all) return true;
        }
        std::this_thread::sleep_for(200ms);
    }
    return false;
}

// The use of `url` in the first LUN ("active", "probation", ...), and how long before it rejoins.
std::pair<std::string, int64_t> UseOf(const Mount& mount, const std::string& url) {
    const nlohmann::json st = StatsJson(mount);
    if (st.is_discarded() || !st.contains("luns") || st["luns"].empty()) return {"", 0};
    const nlohmann::json p = PathOf(st["luns"][0], url);
    if (p.is_null()) return {"", 0};
    return {p.value("use", ""), p.value("rejoins_in_ms", int64_t{0})};
}

// Resets path 1's connections for a moment (nft reject with tcp reset) and measures how long it
// takes, from the heal, to be in use again; the path is kept busy so that it fails at once.
double FailOnceAndTimeTheRejoin(const Lab& lab, const Mount& mount, int* probation_ms) {
    const std::string url = lab.Url(1);
    {
        PortFault reset({lab.Port(1)}, /*drop=*/false);
        EXPECT_TRUE(reset.ok());
        EXPECT_TRUE(WriteDirect(mount.File(), 0, RandomBytes(4 << 20, 3)));
        const auto end = Clock::now() + 10s;
        while (UseOf(mount, url).first == "active" && Clock::now() < end) {
            EXPECT_TRUE(WriteDirect(mount.File(), 0, RandomBytes(1 << 20, 4)));
        }
    }
    const auto healed = Clock::now();
    *probation_ms = 0;
    while (Clock::now() - healed < 90s) {
        const auto [use, rejoin_ms] = UseOf(mount, url);
        if (use == "probation")
            *probation_ms = std::max<int>(*probation_ms, static_cast<int>(rejoin_ms));
        if (use == "active") break;
        std::this_thread::sleep_for(50ms);
    }
    return std::chrono::duration<double>(Clock::now() - healed).count();
}

// A one-off failure costs the 2 s stable window, however many failures came long before it; a
// path that keeps failing waits longer each time, and status says for how long.
TEST_F(AvailabilityTest, AOneOffFailureRejoinsIn2SecondsAndAFlappingPathWaitsLonger) {
    LabOptions lo;
    lo.portals = 2;
    lo.size = "64M";
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls(), "--cache none");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    ASSERT_TRUE(WaitPathsActive(mount, 2, 20s));
    int held_ms = 0;
    // A flapping series: the path fails again as soon as it is back in use.
    std::vector<double> series;
    for (int i = 0; i < 3; ++i) series.push_back(FailOnceAndTimeTheRejoin(lab, mount, &held_ms));
    Report("flapping_rejoin_1_ms", static_cast<uint64_t>(series[0] * 1000));
    Report("flapping_rejoin_3_ms", static_cast<uint64_t>(series[2] * 1000));
    EXPECT_LT(series[0], 4.5) << "a first failure is held back for the 2 s window";
    EXPECT_GT(series[2], series[0] + 2) << "a path failing again and again is not held back longer";
    EXPECT_GT(held_ms, 3000) << "status did not say how long the path is held back";
    // Then quiet: after 35 s without a failure (10 s forgive one each) the next failure is a
    // one-off again: 2 s (the old damping kept doubling for two minutes: 16 s).
    std::this_thread::sleep_for(35s);
    const double one_off = FailOnceAndTimeTheRejoin(lab, mount, &held_ms);
    Report("one_off_rejoin_ms", static_cast<uint64_t>(one_off * 1000));
    EXPECT_LT(one_off, 4.5) << "a one-off failure after a quiet spell was held back";
}

// An IPv6 portal (::1) works end to end: mount beside an IPv4 path, I/O over both, status,
// metrics and discover name it in brackets.
TEST_F(AvailabilityTest, AnIpv6PortalMountsDiscoversAndShowsInStatusAndMetrics) {
    LabOptions lo;
    lo.size = "64M";
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    const int v6_port = lab.Port(0) + 11;
    const CommandResult added = lab.AddPortal("[::1]:" + std::to_string(v6_port));
    ASSERT_EQ(added.exit_code, 0) << added.output;
    const std::string v6 = fmt::format("iscsi://[::1]:{}/{}/1", v6_port, lab.Iqn());
    Mount mount(Mp(), {v6, lab.Url(0)}, "--cache none --metrics 127.0.0.1:0");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    ASSERT_TRUE(WaitPathsActive(mount, 2, 20s));
    const std::vector<char> data = RandomBytes(8 << 20, 9);
    ASSERT_TRUE(WriteDirect(mount.File(), 0, data));
    EXPECT_EQ(ReadFileRange(lab.Backing(), 0, data.size()), data);
    const nlohmann::json st = StatsJson(mount);
    const nlohmann::json p = PathOf(st["luns"][0], v6);
    ASSERT_FALSE(p.is_null()) << st.dump();
    EXPECT_GT(p["bytes_written"].get<uint64_t>(), 0u) << st.dump();
    const std::string table = Shell(LunfsBinary() + " status " + Mp()).output;
    const size_t row = table.find(v6);
    ASSERT_NE(row, std::string::npos) << table;
    const std::string line = table.substr(row, table.find('\n', row) - row);
    EXPECT_NE(line.find(" up "), std::string::npos) << line;
    const std::string address = st["metrics"].get<std::string>();
    const CommandResult metrics = Shell("curl -s http://" + address + "/metrics");
    EXPECT_NE(metrics.output.find("path=\"" + v6 + "\""), std::string::npos) << metrics.output;
    const CommandResult found =
        Shell(LunfsBinary() + " discover iscsi://[::1]:" + std::to_string(v6_port));
    EXPECT_EQ(found.exit_code, 0) << found.output;
    EXPECT_NE(found.output.find("[::1]:" + std::to_string(v6_port)), std::string::npos)
        << found.output;
}

TEST_F(AvailabilityTest, MountsWithTheAnsweringPathAndTheOthersJoinOnceTheyAnswer) {
    LabOptions lo;
    lo.portals = 3;
    lo.size = "64M";
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    PortFault refused({lab.Port(1)}, /*drop=*/false);
    PortFault black_hole({lab.Port(2)}, /*drop=*/true);
    ASSERT_TRUE(refused.ok() && black_hole.ok());

    Mount mount(Mp(), lab.Urls(), "--login-timeout 2");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    EXPECT_EQ(Shell("ls " + Mp()).output, "lun1\n");
    const std::vector<char> data = RandomBytes(4 << 20, 7);
    ASSERT_TRUE(WriteDirect(mount.File(), 1 << 20, data));
    std::vector<char> back;
    ASSERT_TRUE(ReadDirect(mount.File(), 1 << 20, data.size(), back));
    EXPECT_TRUE(back == data);

    const nlohmann::json st = StatsJson(mount);
    ASSERT_FALSE(st.is_discarded()) << mount.Stats();
    ASSERT_EQ(st["luns"].size(), 1u) << st.dump(2);
    const nlohmann::json& lun = st["luns"][0];
    EXPECT_EQ(lun["paths"].size(), 3u) << st.dump(2);
    EXPECT_EQ(PathOf(lun, lab.Url(0)).value("use", ""), "active") << st.dump(2);
    for (int portal : {1, 2}) {
        const nlohmann::json p = PathOf(lun, lab.Url(portal));
        ASSERT_TRUE(p.is_object()) << lab.Url(portal) << " missing: " << st.dump(2);
        EXPECT_EQ(p.value("state", ""), "down") << p.dump();
        EXPECT_FALSE(p.value("error", "").empty()) << p.dump();
        EXPECT_TRUE(p.contains("next_attempt_in_s")) << p.dump();
    }
    EXPECT_NE(PathOf(lun, lab.Url(1)).value("error", "").find("cannot connect"), std::string::npos)
        << st.dump(2);
    EXPECT_NE(PathOf(lun, lab.Url(2)).value("error", "").find("timed out"), std::string::npos)
        << st.dump(2);
    const CommandResult status = Shell(Lunfs() + " status " + Mp());
    EXPECT_EQ(status.exit_code, 0) << status.output;
    EXPECT_NE(status.output.find(lab.Url(1)), std::string::npos) << status.output;
    EXPECT_NE(status.output.find("down"), std::string::npos) << status.output;
    EXPECT_NE(status.output.find("cannot connect"), std::string::npos) << status.output;
    EXPECT_NE(status.output.find("next attempt in"), std::string::npos) << status.output;

    refused.Heal();
    black_hole.Heal();
    EXPECT_TRUE(WaitPathsActive(mount, 3, 60s)) << mount.Stats();
    ASSERT_TRUE(ReadDirect(mount.File(), 1 << 20, data.size(), back));
    EXPECT_TRUE(back == data);
    const nlohmann::json after = StatsJson(mount);
    for (const auto& p : after["luns"][0]["paths"]) EXPECT_FALSE(p.contains("error")) << p.dump();
}

TEST_F(AvailabilityTest, WithNoPortalReachableTheMountFailsAtOnceWithOneLine) {
    LabOptions lo;
    lo.portals = 2;
    lo.size = "64M";
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    PortFault refused(lab.Ports(), /*drop=*/false);
    ASSERT_TRUE(refused.ok());
    for (const std::string args : {"", "--wait 0"}) {
        const auto start = Clock::now();
        Mount mount(Mp(), lab.Urls(), args);
        EXPECT_FALSE(mount.ok());
        EXPECT_EQ(mount.result().exit_code, 1) << args << ": " << mount.result().output;
        EXPECT_EQ(mount.result().output.find("lunfs: cannot connect to " + lab.Portal(0) + ": "),
                  0u)
            << args << ": " << mount.result().output;
        EXPECT_EQ(std::count(mount.result().output.begin(), mount.result().output.end(), '\n'), 1)
            << mount.result().output;
        EXPECT_LT(Clock::now() - start, 5s) << args;
        EXPECT_FALSE(Mounted(Mp()));
    }
    // --wait gives up when its time is out, with the same line and how long it tried.
    const auto start = Clock::now();
    Mount mount(Mp(), lab.Urls(), "--wait 3");
    EXPECT_EQ(mount.result().exit_code, 1) << mount.result().output;
    EXPECT_NE(mount.result().output.find("lunfs: cannot connect to " + lab.Portal(0)),
              std::string::npos)
        << mount.result().output;
    EXPECT_NE(mount.result().output.find("after waiting 3 s"), std::string::npos)
        << mount.result().output;
    EXPECT_GE(Clock::now() - start, 3s);
    EXPECT_LT(Clock::now() - start, 15s);
    EXPECT_FALSE(Mounted(Mp()));
}

TEST_F(AvailabilityTest, WaitKeepsTryingUntilAPortalAnswers) {
    LabOptions lo;
    lo.portals = 2;
    lo.size = "64M";
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    PortFault refused({lab.Port(0)}, /*drop=*/false);
    PortFault black_hole({lab.Port(1)}, /*drop=*/true);
    ASSERT_TRUE(refused.ok() && black_hole.ok());
    std::thread heal([&] {
        std::this_thread::sleep_for(4s);
        refused.Heal();
    });
    const auto start = Clock::now();
    Mount mount(Mp(), lab.Urls(), "--wait 20 --login-timeout 2");
    const auto took = Clock::now() - start;
    heal.join();
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    EXPECT_GE(took, 4s);
    EXPECT_LT(took, 20s);
    const std::vector<char> data = RandomBytes(1 << 20, 3);
    ASSERT_TRUE(WriteDirect(mount.File(), 0, data));
    const nlohmann::json st = StatsJson(mount);
    EXPECT_EQ(PathOf(st["luns"][0], lab.Url(0)).value("use", ""), "active") << st.dump(2);
    EXPECT_EQ(PathOf(st["luns"][0], lab.Url(1)).value("state", ""), "down") << st.dump(2);
    black_hole.Heal();
    EXPECT_TRUE(WaitPathsActive(mount, 2, 60s)) << mount.Stats();
}

TEST_F(AvailabilityTest, WaitAsAMountOptionAndBadValuesAreOneLine) {
    LabOptions lo;
    lo.size = "64M";
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    mkdir(Mp().c_str(), 0755);
    for (const std::string bad : {"--wait -1", "--wait soon", "--wait 100000"}) {
        const CommandResult r = Shell(Lunfs() + " mount " + bad + " " + Mp() + " " + lab.Url());
        EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.output;
        EXPECT_EQ(r.output.find("lunfs: --wait: must be a whole number from 0 to 86400"), 0u)
            << bad << ": " << r.output;
        EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    }
    const CommandResult bad = Shell(Lunfs() + " '" + lab.Url() + "' " + Mp() + " -o wait=x");
    EXPECT_EQ(bad.exit_code, 2) << bad.output;
    EXPECT_EQ(bad.output.find("lunfs: -o wait: must be a whole number"), 0u) << bad.output;

    PortFault refused({lab.Port(0)}, /*drop=*/false);
    std::thread heal([&] {
        std::this_thread::sleep_for(3s);
        refused.Heal();
    });
    UnmountGuard guard(Mp());
    const CommandResult r = Shell(Lunfs() + " '" + lab.Url() + "' " + Mp() +
                                  " -o _netdev,wait=20,log-file=" + dir_.path() + "/helper.log");
    heal.join();
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(Mounted(Mp()));
    EXPECT_EQ(Shell("ls " + Mp()).output, "lun1\n");
    EXPECT_EQ(Shell(Lunfs() + " unmount " + Mp()).exit_code, 0);
}

TEST_F(AvailabilityTest, AConfigLunThatCannotBeReachedDoesNotKeepTheOthersFromMounting) {
    LabOptions lo;
    lo.size = "64M";
    Lab good(LabDir("good"), lo);
    Lab away(LabDir("away"), lo);
    ASSERT_TRUE(good.ok()) << good.error();
    ASSERT_TRUE(away.ok()) << away.error();
    PortFault refused({away.Port(0)}, /*drop=*/false);
    ASSERT_TRUE(refused.ok());
    const std::string config = dir_.path() + "/two.toml";
    WriteText(config, "login-timeout = 2\n\n[[lun]]\nname = \"good\"\nurls = [\"" + good.Url() +
                          "\"]\n\n[[lun]]\nname = \"away\"\nurls = [\"" + away.Url() + "\"]\n");

    Mount mount(Mp(), {}, "-c " + config);
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    EXPECT_EQ(Shell("ls " + Mp()).output, "good\n");
    const std::vector<char> data = RandomBytes(1 << 20, 5);
    ASSERT_TRUE(WriteDirect(mount.File("good"), 0, data));
    nlohmann::json st = StatsJson(mount);
    ASSERT_EQ(st["luns"].size(), 1u) << st.dump(2);
    ASSERT_EQ(st["pending_luns"].size(), 1u) << st.dump(2);
    EXPECT_EQ(st["pending_luns"][0]["file"], "away") << st.dump(2);
    const nlohmann::json p = PathOf(st["pending_luns"][0], away.Url());
    EXPECT_EQ(p.value("state", ""), "down") << st.dump(2);
    EXPECT_NE(p.value("error", "").find("cannot connect"), std::string::npos) << st.dump(2);
    const CommandResult status = Shell(Lunfs() + " status " + Mp());
    EXPECT_NE(status.output.find("away"), std::string::npos) << status.output;
    EXPECT_NE(status.output.find("not mounted yet"), std::string::npos) << status.output;

    refused.Heal();
    const auto end = Clock::now() + 45s;
    struct stat sb;
    while (Clock::now() < end && stat(mount.File("away").c_str(), &sb) != 0) {
        std::this_thread::sleep_for(200ms);
    }
    ASSERT_EQ(stat(mount.File("away").c_str(), &sb), 0) << mount.Stats();
    EXPECT_EQ(sb.st_size, 64 << 20);
    EXPECT_EQ(Shell("ls " + Mp()).output, "away\ngood\n");
    ASSERT_TRUE(WriteDirect(mount.File("away"), 4096, data));
    std::vector<char> back;
    ASSERT_TRUE(ReadDirect(mount.File("away"), 4096, data.size(), back));
    EXPECT_TRUE(back == data);
    st = StatsJson(mount);
    EXPECT_EQ(st["luns"].size(), 2u) << st.dump(2);
    EXPECT_EQ(st.value("pending_luns", nlohmann::json::array()).size(), 0u) << st.dump(2);
}

}  // namespace
}  // namespace lunfs::test
