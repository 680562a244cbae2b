// End-to-end tests of the operator side of lunfs against a real tgtd: discovery, config files,
// status and metrics, and mounting through mount.fuse3 and an fstab line.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "tests/integration/ops_helpers.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;
using OpsTest = IntegrationTest;

LabOptions TwoPortalsTwoLuns() {
    LabOptions lo;
    lo.portals = 2;
    lo.luns = 2;
    lo.size = "64M";
    lo.block_size = 4096;
    return lo;
}

TEST_F(OpsTest, DiscoverGroupsEveryPortalOfEachLunIntoItsPaths) {
    Lab lab(LabDir(), TwoPortalsTwoLuns());
    ASSERT_TRUE(lab.ok()) << lab.error();
    const std::string portals = "iscsi://" + lab.Portal(0) + " " + lab.Portal(1);

    CommandResult json = Stdout(Lunfs() + " discover --json " + portals);
    ASSERT_EQ(json.exit_code, 0) << json.output;
    const nlohmann::json doc = Json(json.output);
    ASSERT_FALSE(doc.is_discarded()) << json.output;
    ASSERT_EQ(doc["targets"].size(), 1u) << doc.dump();
    EXPECT_EQ(doc["targets"][0]["name"], lab.Iqn());
    EXPECT_EQ(doc["targets"][0]["portals"], nlohmann::json::array({lab.Portal(0), lab.Portal(1)}));
    EXPECT_TRUE(doc["errors"].empty());
    std::set<std::string> identities;
    int disks = 0;
    for (const auto& lun : doc["luns"]) {
        if (lun["type"] != "disk") continue;
        ++disks;
        const int n = lun["lun"].get<int>();
        EXPECT_EQ(lun["paths"], nlohmann::json(lab.Urls(n))) << lun.dump();
        EXPECT_EQ(lun["size_bytes"].get<uint64_t>(), 64u << 20);
        EXPECT_EQ(lun["block_size"].get<uint32_t>(), 4096u);
        EXPECT_EQ(lun["device_type"].get<int>(), 0);
        EXPECT_FALSE(lun["vendor"].get<std::string>().empty());
        EXPECT_TRUE(lun["error"].is_null());
        EXPECT_FALSE(lun["designators"].empty());
        identities.insert(lun["identity"].get<std::string>());
    }
    EXPECT_EQ(disks, 2);
    EXPECT_EQ(identities.size(), 2u);  // two LUNs, not one seen twice
    EXPECT_EQ(identities.count(""), 0u);

    CommandResult table = Shell(Lunfs() + " discover " + portals);
    ASSERT_EQ(table.exit_code, 0) << table.output;
    EXPECT_NE(table.output.find("LUN 2  disk  64 MiB (16384 blocks of 4096 B)"), std::string::npos)
        << table.output;
    EXPECT_NE(table.output.find("paths 2   " + lab.Url(0, 1)), std::string::npos) << table.output;
    EXPECT_NE(table.output.find("mount     lunfs mount MOUNTPOINT " + lab.Url(0, 2) + " " +
                                lab.Url(1, 2)),
              std::string::npos)
        << table.output;
}

TEST_F(OpsTest, DiscoverSaysWhyItCannotConnectOrLogIn) {
    CommandResult refused = Shell(Lunfs() + " discover iscsi://127.0.0.1:1");
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_EQ(refused.output,
              "lunfs: discovery at 127.0.0.1:1: cannot connect to 127.0.0.1:1: Connection "
              "refused\n");
    CommandResult bad = Shell(Lunfs() + " discover iscsi://no/such/portal/x");
    EXPECT_EQ(bad.exit_code, 2) << bad.output;

    const std::string secret = dir_.path() + "/secret";
    WriteText(secret, "lab-secret-12345\n", 0600);
    LabOptions lo;
    lo.chap_user = "alice";
    lo.chap_secret_file = secret;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    CommandResult no_chap = Shell(Lunfs() + " discover " + lab.Portal());
    EXPECT_EQ(no_chap.exit_code, 1);
    EXPECT_NE(
        no_chap.output.find("lunfs: login to " + lab.Iqn() + " at " + lab.Portal() + " refused"),
        std::string::npos)
        << no_chap.output;
    CommandResult chap = Shell(Lunfs() + " discover --chap-secret-file " + secret +
                               " iscsi://alice@" + lab.Portal());
    EXPECT_EQ(chap.exit_code, 0) << chap.output;
    EXPECT_NE(chap.output.find("iscsi://alice@" + lab.Portal() + "/" + lab.Iqn() + "/1"),
              std::string::npos)
        << chap.output;
}

// Two LUNs from a config file, each with its own settings, seen through status (table and JSON)
// and the metrics endpoint.
TEST_F(OpsTest, ConfigMountsTwoLunsWithTheirOwnSettingsAndMetricsCountEveryPath) {
    Lab lab(LabDir(), TwoPortalsTwoLuns());
    ASSERT_TRUE(lab.ok()) << lab.error();
    const std::string config = dir_.path() + "/san.toml";
    WriteText(config,
              "policy = \"round-robin\"\n"
              "metrics = \"127.0.0.1:0\"\n"
              "\n[[lun]]\nname = \"vm1\"\nurls = [\"" +
                  lab.Url(0, 1) + "\", \"" + lab.Url(1, 1) +
                  "\"]\npolicy = \"spread\"\n"
                  "\n[[lun]]\nname = \"golden\"\nportals = [\"" +
                  lab.Portal(0) + "\", \"" + lab.Portal(1) + "\"]\ntarget = \"" + lab.Iqn() +
                  "\"\nlun = 2\nread-only = true\n");
    Mount mount(Mp(), {}, "-c " + config);
    ASSERT_TRUE(mount.ok()) << mount.result().output;

    const std::vector<char> data = RandomBytes(8 << 20, 31);
    ASSERT_TRUE(WriteDirect(mount.File("vm1"), 0, data));
    EXPECT_EQ(ReadFileRange(lab.Backing(1), 0, data.size()), data);
    EXPECT_FALSE(WriteDirect(mount.File("golden"), 0, data));  // read-only: EROFS
    std::vector<char> got;
    EXPECT_TRUE(ReadDirect(mount.File("golden"), 0, 1 << 20, got));

    CommandResult json = Stdout(Lunfs() + " status --json " + Mp());
    ASSERT_EQ(json.exit_code, 0);
    const nlohmann::json st = Json(json.output);
    ASSERT_EQ(st["luns"].size(), 2u) << json.output;
    EXPECT_EQ(st["luns"][0]["file"], "vm1");
    EXPECT_EQ(st["luns"][0]["policy"], "spread");
    EXPECT_EQ(st["luns"][0]["read_only"], false);
    EXPECT_EQ(st["luns"][1]["file"], "golden");
    EXPECT_EQ(st["luns"][1]["policy"], "round-robin");
    EXPECT_EQ(st["luns"][1]["read_only"], true);
    for (const auto& p : st["luns"][0]["paths"]) {
        EXPECT_GT(p["bytes_written"].get<uint64_t>(), 0u) << p.dump();
        EXPECT_TRUE(p.contains("read_bps") && p.contains("write_bps"));
    }
    const std::string address = st["metrics"].get<std::string>();
    ASSERT_TRUE(address.starts_with("127.0.0.1:")) << address;

    CommandResult table = Shell(Lunfs() + " status " + Mp());
    EXPECT_EQ(table.exit_code, 0);
    EXPECT_NE(table.output.find("golden  "), std::string::npos) << table.output;
    EXPECT_NE(table.output.find(", read-only  policy round-robin"), std::string::npos)
        << table.output;
    EXPECT_NE(table.output.find(lab.Url(1, 2) + " up"), std::string::npos) << table.output;

    // The endpoint serves the sampler's snapshot, at most a second old.
    httplib::Client client("127.0.0.1", std::stoi(address.substr(address.find(':') + 1)));
    std::string metrics;
    const std::string written =
        "lunfs_path_written_bytes_total{lun=\"vm1\",path=\"" + lab.Url(0, 1) + "\"} ";
    ASSERT_TRUE(WaitFor(
        [&] {
            auto r = client.Get("/metrics");
            if (!r || r->status != 200) return false;
            metrics = r->body;
            const size_t at = metrics.find(written);
            return at != std::string::npos && metrics.substr(at + written.size(), 1) != "0";
        },
        5s))
        << metrics;
    for (const std::string& url : {lab.Url(0, 1), lab.Url(1, 1), lab.Url(0, 2), lab.Url(1, 2)}) {
        EXPECT_NE(metrics.find("path=\"" + url + "\"} "), std::string::npos) << url;
    }
    EXPECT_NE(metrics.find("# TYPE lunfs_path_retries_total counter"), std::string::npos);
    EXPECT_NE(metrics.find("lunfs_path_up{lun=\"golden\",path=\"" + lab.Url(1, 2) + "\"} 1"),
              std::string::npos);
}

TEST_F(OpsTest, BadConfigsAreRefusedWithTheFileAndLine) {
    mkdir(Mp().c_str(), 0755);
    const std::string url = "\"iscsi://127.0.0.1:1/iqn.2026-11.io.lunfs.test:none/1\"";
    const struct {
        std::string text;
        std::string message;
    } cases[] = {
        {"policy = \"spread\"\n[[lun]]\nurls = [" + url + "]\nqueue-depht = 8\n",
         ":4: unknown key 'queue-depht' in [[lun]]"},
        {"login-timeout = 5\n\n[[lun]]\nname = \"vm1\"\n", ":3: [[lun]] has no URL"},
        {"[[lun]]\nurls = [" + url + "]\nread-only = \"no\"\n",
         ":3: read-only: must be true or false, not 'no'"},
        {"command-timeout = \"30s\"\n[[lun]]\nurls = [" + url + "]\n",
         ":1: command-timeout: must be a whole number from 1 to 3600, not '30s'"},
    };
    int i = 0;
    for (const auto& c : cases) {
        const std::string config = dir_.path() + "/bad" + std::to_string(i++) + ".toml";
        WriteText(config, c.text);
        CommandResult r = Shell(Lunfs() + " mount -c " + config + " " + Mp());
        EXPECT_EQ(r.exit_code, 2) << r.output;
        EXPECT_TRUE(r.output.starts_with("lunfs: " + config + c.message)) << r.output;
        EXPECT_FALSE(Mounted(Mp()));
    }
    CommandResult missing = Shell(Lunfs() + " mount -c " + dir_.path() + "/none.toml " + Mp());
    EXPECT_EQ(missing.exit_code, 2);
    EXPECT_NE(missing.output.find("none.toml: No such file"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace lunfs::test
