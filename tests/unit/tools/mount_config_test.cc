// Config files for `lunfs mount -c`: what they set, and errors that name the line.
#include "tools/mount_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace lunfs {
namespace {

constexpr const char* kTwoLuns = R"(# two LUNs over two portals
policy = "spread"
login-timeout = 5

[[lun]]
name = "vm1"
urls = ["iscsi://192.0.2.10/iqn.2026-01.com.example:store/1",
        "iscsi://192.0.2.11/iqn.2026-01.com.example:store/1"]
queue-depth = 16

[[lun]]
name = "scratch"
portals = ["192.0.2.10", "192.0.2.11:3261"]
target = "iqn.2026-01.com.example:store"
lun = 2
read-only = true
policy = "failover"
)";

Status ErrorOf(const std::string& text) {
    Result<MountConfig> c = ParseMountConfig(text, "san.toml");
    if (!c.ok()) return c.status();
    MountSettings s;
    for (const OptionAssignment& a : c->options) {
        if (Status st = ApplyOption(a, s); !st.ok()) return st;
    }
    for (const MountConfig::Lun& l : c->luns) {
        LunSettings lun;
        for (const OptionAssignment& a : l.options) {
            if (Status st = ApplyLunOption(a, lun); !st.ok()) return st;
        }
    }
    return Status::Ok();
}

TEST(MountConfigTest, ReadsTwoLunsWithTheirUrlsAndOptions) {
    Result<MountConfig> c = ParseMountConfig(kTwoLuns, "san.toml");
    ASSERT_TRUE(c.ok()) << c.status().message();
    ASSERT_EQ(c->options.size(), 2u);
    ASSERT_EQ(c->luns.size(), 2u);
    EXPECT_EQ(c->luns[0].line, 5);
    EXPECT_EQ(c->luns[0].urls.size(), 2u);
    EXPECT_EQ(c->luns[1].urls, (std::vector<std::string>{
                                   "iscsi://192.0.2.10/iqn.2026-01.com.example:store/2",
                                   "iscsi://192.0.2.11:3261/iqn.2026-01.com.example:store/2"}));
    EXPECT_EQ(c->luns[1].options.size(), 3u);  // name, read-only, policy
    EXPECT_EQ(c->luns[1].options.front().origin, "san.toml:12: name");
}

TEST(MountConfigTest, UnknownKeysNameTheirLine) {
    EXPECT_EQ(ErrorOf("polcy = \"spread\"\n[[lun]]\nurls = [\"iscsi://h/iqn.a:b/1\"]\n").message(),
              "san.toml:1: unknown key 'polcy' (did you mean 'policy'?)");
    EXPECT_EQ(ErrorOf("[[lun]]\nurls = [\"iscsi://h/iqn.a:b/1\"]\n\nqueue_depth = 4\n").message(),
              "san.toml:4: unknown key 'queue_depth' in [[lun]] (did you mean 'queue-depth'?)");
}

TEST(MountConfigTest, ALunWithoutUrlsIsAnErrorAtItsTable) {
    EXPECT_EQ(ErrorOf("policy = \"spread\"\n\n[[lun]]\nname = \"a\"\n").message(),
              "san.toml:3: [[lun]] has no URL: give urls = [...], or portals, target and lun");
    EXPECT_EQ(ErrorOf("[[lun]]\nportals = [\"h\"]\n").message(),
              "san.toml:2: portals need target and lun in the same [[lun]]");
    EXPECT_EQ(ErrorOf("mountpoint = \"/mnt\"\n").message(),
              "san.toml:1: no [[lun]] table: nothing to mount");
}

TEST(MountConfigTest, ValuesOfTheWrongTypeNameTheLineAndTheKey) {
    EXPECT_EQ(
        ErrorOf("[[lun]]\nurls = [\"iscsi://h/iqn.a:b/1\"]\nqueue-depth = \"deep\"\n").message(),
        "san.toml:3: queue-depth: must be a whole number from 1 to 1024, not 'deep'");
    EXPECT_EQ(ErrorOf("read-only = \"yes\"\n[[lun]]\nurls = [\"iscsi://h/iqn.a:b/1\"]\n").message(),
              "san.toml:1: read-only: must be true or false, not 'yes'");
    EXPECT_EQ(ErrorOf("[[lun]]\nurls = \"iscsi://h/iqn.a:b/1\"\n").message(),
              "san.toml:2: urls: must be an array of strings, not a string");
    EXPECT_EQ(ErrorOf("[[lun]]\nurls = [\"iscsi://h/iqn.a:b/1\"]\npolicy = [\"a\"]\n").message(),
              "san.toml:3: policy: must be a single value, not an array");
}

TEST(MountConfigTest, MisplacedKeysBadUrlsAndSyntaxErrorsNameTheLine) {
    EXPECT_EQ(ErrorOf("[[lun]]\nurls = [\"iscsi://h/iqn.a:b/1\"]\nfuse-threads = 2\n").message(),
              "san.toml:3: 'fuse-threads' applies to the whole mount: put it before the first "
              "[[lun]]");
    EXPECT_EQ(ErrorOf("name = \"x\"\n[[lun]]\nurls = [\"iscsi://h/iqn.a:b/1\"]\n").message(),
              "san.toml:1: name belongs in a [[lun]] table");
    EXPECT_EQ(ErrorOf("[[lun]]\nurls = [\"iscsi://h/disk/1\"]\n").message(),
              "san.toml:1: bad iSCSI URL: target name must start with iqn., eui. or naa.");
    const std::string syntax = ErrorOf("policy = \"spread\"\nqueue-depth = = 3\n").message();
    EXPECT_TRUE(syntax.starts_with("san.toml:2: ")) << syntax;
}

TEST(MountConfigTest, CommandLineOverridesTheConfigAndLunTablesOverrideBoth) {
    char path[] = "/tmp/lunfs-config-test-XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    std::ofstream(path) << "mountpoint = \"/mnt/san\"\n" << kTwoLuns;
    MountRequest request;
    request.config = path;
    request.options.push_back(
        {FindMountOption("login-timeout"), std::string("7"), "--login-timeout"});
    request.options.push_back({FindMountOption("policy"), std::string("queue-depth"), "--policy"});
    Result<MountSettings> s = ResolveMountSettings(request);
    std::remove(path);
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_EQ(s->mountpoint, "/mnt/san");
    EXPECT_FALSE(s->grouped_by_identity);
    ASSERT_EQ(s->luns.size(), 2u);
    EXPECT_EQ(s->luns[0].name, "vm1");
    EXPECT_EQ(s->luns[0].login_timeout_s, 7);     // command line over the config
    EXPECT_EQ(s->luns[0].policy, "queue-depth");  // command line over the config
    EXPECT_EQ(s->luns[0].queue_depth, 16u);       // its own table
    EXPECT_EQ(s->luns[1].policy, "failover");     // its own table over the command line
    EXPECT_TRUE(s->luns[1].read_only);
    EXPECT_FALSE(s->luns[0].read_only);
}

TEST(MountConfigTest, WaitIsAKeyOfTheWholeMountNotOfALun) {
    Result<MountConfig> c = ParseMountConfig(std::string("wait = 120\n") + kTwoLuns, "san.toml");
    ASSERT_TRUE(c.ok()) << c.status().message();
    MountSettings s;
    for (const OptionAssignment& a : c->options) ASSERT_TRUE(ApplyOption(a, s).ok());
    EXPECT_EQ(s.wait_s, 120u);
    EXPECT_EQ(ErrorOf("wait = \"soon\"\n[[lun]]\nurls = [\"iscsi://h/iqn.x:y/1\"]\n").message(),
              "san.toml:1: wait: must be a whole number from 0 to 86400, not 'soon'");
    EXPECT_EQ(ErrorOf("[[lun]]\nurls = [\"iscsi://h/iqn.x:y/1\"]\nwait = 5\n").message(),
              "san.toml:3: 'wait' applies to the whole mount: put it before the first [[lun]]");
}

TEST(MountConfigTest, UrlsAndConfigLunsDoNotMix) {
    MountRequest request;
    request.mountpoint = "/mnt";
    EXPECT_EQ(ResolveMountSettings(request).status().message(), "no URL given: nothing to mount");
    request.urls = {"iscsi://h/iqn.a:b/1"};
    request.mountpoint.clear();
    EXPECT_FALSE(ResolveMountSettings(request).ok());
    request.mountpoint = "/mnt";
    Result<MountSettings> s = ResolveMountSettings(request);
    ASSERT_TRUE(s.ok());
    EXPECT_TRUE(s->grouped_by_identity);
    ASSERT_EQ(s->luns.size(), 1u);
    EXPECT_EQ(s->luns[0].urls, request.urls);
}

TEST(MountConfigTest, TheExampleConfigInDocsIsValid) {
    MountRequest request;
    request.config = std::string(LUNFS_SOURCE_DIR) + "/docs/san.toml";
    Result<MountSettings> s = ResolveMountSettings(request);
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_EQ(s->mountpoint, "/mnt/san");
    ASSERT_EQ(s->luns.size(), 2u);
    EXPECT_EQ(s->luns[1].urls.front(),
              "iscsi://storage@192.0.2.10/iqn.2026-01.com.example:images/3");
    EXPECT_TRUE(s->luns[1].read_only);
    EXPECT_EQ(s->luns[1].policy, "failover");
    EXPECT_EQ(s->luns[0].no_path_timeout_s, 60);
    EXPECT_EQ(s->metrics, "127.0.0.1:9464");
}

}  // namespace
}  // namespace lunfs
