// The one table of mount options: command-line values, mount.fuse3 -o options and their checks.
#include "tools/mount_options.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace lunfs {
namespace {

OptionAssignment Given(const char* key, OptionValue value) {
    return {FindMountOption(key), std::move(value), std::string("--") + key};
}

TEST(MountOptionsTest, EveryOptionHasAKeyHelpAndAFieldOfTheRightKind) {
    for (const MountOption& o : AllMountOptions()) {
        EXPECT_FALSE(o.key.empty());
        EXPECT_FALSE(o.help.empty()) << o.key;
        EXPECT_EQ(FindMountOption(o.key), &o);
        if (!o.is_flag() && o.choices.empty() && o.max > 0) {
            EXPECT_LT(o.min, o.max) << o.key;
        }
    }
    EXPECT_TRUE(FindMountOption("policy")->per_lun());
    EXPECT_FALSE(FindMountOption("fuse-threads")->per_lun());
    EXPECT_EQ(FindMountOption("no-such-option"), nullptr);
}

TEST(MountOptionsTest, TextValuesAreParsedAsTheFieldsType) {
    MountSettings s;
    ASSERT_TRUE(ApplyOption(Given("queue-depth", std::string("32")), s).ok());
    ASSERT_TRUE(ApplyOption(Given("no-path-timeout", std::string("2.5")), s).ok());
    ASSERT_TRUE(ApplyOption(Given("read-only", std::string("")), s).ok());
    ASSERT_TRUE(ApplyOption(Given("fuse-threads", int64_t{4}), s).ok());
    ASSERT_TRUE(ApplyOption(Given("policy", std::string("failover")), s).ok());
    EXPECT_EQ(s.defaults.queue_depth, 32u);
    EXPECT_DOUBLE_EQ(s.defaults.no_path_timeout_s, 2.5);
    EXPECT_TRUE(s.defaults.read_only);
    EXPECT_EQ(s.fuse_threads, 4u);
    EXPECT_EQ(s.defaults.policy, "failover");
    EXPECT_EQ(OptionText(*FindMountOption("queue-depth"), s), "32");
    EXPECT_EQ(OptionText(*FindMountOption("read-only"), s), "true");
}

TEST(MountOptionsTest, BadValuesAreRefusedWithTheOriginAndTheRule) {
    MountSettings s;
    Status st = ApplyOption(Given("queue-depth", std::string("0")), s);
    EXPECT_EQ(st.message(), "--queue-depth: must be a whole number from 1 to 1024, not '0'");
    st = ApplyOption(Given("queue-depth", std::string("8x")), s);
    EXPECT_FALSE(st.ok());
    st = ApplyOption(Given("queue-depth", 2.5), s);
    EXPECT_NE(st.message().find("whole number"), std::string::npos) << st.message();
    st = ApplyOption(Given("policy", std::string("fastest")), s);
    EXPECT_NE(st.message().find("unknown value 'fastest' (use spread, round-robin"),
              std::string::npos)
        << st.message();
    st = ApplyOption(Given("policy", int64_t{3}), s);
    EXPECT_EQ(st.message(), "--policy: must be a string, not 3");
    st = ApplyOption(Given("read-only", std::string("maybe")), s);
    EXPECT_EQ(st.message(), "--read-only: must be true or false, not 'maybe'");
    EXPECT_EQ(s.defaults.queue_depth, 64u);  // nothing applied
}

TEST(MountOptionsTest, NameGivenForTheWholeMountNamesTheLunsInOrder) {
    MountSettings s;
    ASSERT_TRUE(ApplyOption(Given("name", std::string("a")), s).ok());
    ASSERT_TRUE(ApplyOption(Given("name", std::string("b")), s).ok());
    EXPECT_EQ(s.names, (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(s.defaults.name.empty());
}

TEST(MountOptionsTest, LunOptionsApplyOnlyToPerLunFields) {
    LunSettings lun;
    EXPECT_TRUE(ApplyLunOption(Given("login-timeout", int64_t{5}), lun).ok());
    EXPECT_EQ(lun.login_timeout_s, 5);
    Status st = ApplyLunOption(Given("fuse-threads", int64_t{5}), lun);
    EXPECT_EQ(st.message(), "--fuse-threads: applies to the whole mount, not to one LUN");
}

TEST(MountOptionsTest, FuseOptionsMapToTheSameTableAndIgnoreWhatMountAlwaysPasses) {
    std::vector<OptionAssignment> out;
    std::string config;
    ASSERT_TRUE(ParseFuseOptions("rw,nosuid,nodev,noatime,_netdev,x-systemd.automount,"
                                 "allow_other,policy=round-robin,rr_switch_every=8,name=vm1,"
                                 "config=/etc/lunfs/san.toml,ro",
                                 out, config)
                    .ok());
    EXPECT_EQ(config, "/etc/lunfs/san.toml");
    MountSettings s;
    for (const OptionAssignment& a : out) ASSERT_TRUE(ApplyOption(a, s).ok()) << a.origin;
    EXPECT_TRUE(s.allow_other);
    EXPECT_EQ(s.defaults.policy, "round-robin");
    EXPECT_EQ(s.defaults.rr_switch_every, 8u);
    EXPECT_EQ(s.names, std::vector<std::string>{"vm1"});
    EXPECT_TRUE(s.defaults.read_only);  // the last of rw and ro wins
}

TEST(MountOptionsTest, UnknownOrIncompleteFuseOptionsAreErrorsNamingThem) {
    std::vector<OptionAssignment> out;
    std::string config;
    Status st = ParseFuseOptions("rw,polcy=spread", out, config);
    EXPECT_EQ(st.message(), "unknown mount option 'polcy' (did you mean 'policy'?)");
    st = ParseFuseOptions("frobnicate=1", out, config);
    EXPECT_EQ(st.message(), "unknown mount option 'frobnicate' (see lunfs mount --help)");
    st = ParseFuseOptions("queue-depth", out, config);
    EXPECT_EQ(st.message(), "-o queue-depth: needs a value: queue-depth=N");
    st = ParseFuseOptions("foreground", out, config);
    EXPECT_FALSE(st.ok());
    st = ParseFuseOptions("config=", out, config);
    EXPECT_FALSE(st.ok());
}

TEST(MountOptionsTest, WaitIsWholeSecondsForTheMountFromAFlagAnOptionOrAConfigKey) {
    const MountOption* wait = FindMountOption("wait");
    ASSERT_NE(wait, nullptr);
    EXPECT_FALSE(wait->per_lun());
    EXPECT_TRUE(wait->config_allowed);
    MountSettings s;
    EXPECT_EQ(s.wait_s, 0u);  // fail at once unless asked
    ASSERT_TRUE(ApplyOption(Given("wait", std::string("20")), s).ok());
    EXPECT_EQ(s.wait_s, 20u);
    ASSERT_TRUE(ApplyOption({wait, int64_t{86400}, "san.toml:2: wait", true}, s).ok());
    EXPECT_EQ(s.wait_s, 86400u);

    std::vector<OptionAssignment> out;
    std::string config;
    ASSERT_TRUE(ParseFuseOptions("_netdev,wait=30", out, config).ok());
    ASSERT_EQ(out.size(), 1u);
    ASSERT_TRUE(ApplyOption(out[0], s).ok());
    EXPECT_EQ(s.wait_s, 30u);
    out.clear();
    EXPECT_EQ(ParseFuseOptions("wait", out, config).message(), "-o wait: needs a value: wait=S");
}

TEST(MountOptionsTest, BadWaitValuesAreOneLineNamingTheRange) {
    MountSettings s;
    for (const char* bad : {"-1", "soon", "2.5", "86401", ""}) {
        Status st = ApplyOption(Given("wait", std::string(bad)), s);
        EXPECT_EQ(st.message(), fmt::format("--wait: must be a whole number from 0 to 86400, not "
                                            "'{}'",
                                            bad));
        EXPECT_EQ(st.code(), EINVAL);
    }
    Status typed =
        ApplyOption({FindMountOption("wait"), std::string("20"), "san.toml:3: wait", true}, s);
    EXPECT_EQ(typed.message(),
              "san.toml:3: wait: must be a whole number from 0 to 86400, not '20'");
    EXPECT_EQ(s.wait_s, 0u);
}

}  // namespace
}  // namespace lunfs
