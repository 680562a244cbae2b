// The did-you-mean of every command-line, -o and config message, and URLs of another scheme.
#include "tools/user_input.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lunfs {
namespace {

TEST(UserInputTest, EditDistanceCountsInsertionsDeletionsReplacementsAndSwaps) {
    EXPECT_EQ(EditDistance("mount", "mount"), 0u);
    EXPECT_EQ(EditDistance("mout", "mount"), 1u);
    EXPECT_EQ(EditDistance("muont", "mount"), 1u);  // two neighbours swapped
    EXPECT_EQ(EditDistance("polcy", "policy"), 1u);
    EXPECT_EQ(EditDistance("", "abc"), 3u);
    EXPECT_EQ(EditDistance("status", "copy"), 6u);
}

TEST(UserInputTest, SuggestsTheClosestNameOnlyWhenItIsPlausiblyATypo) {
    const std::vector<std::string> commands = {"discover", "mount", "status",
                                               "copy",     "path",  "unmount"};
    EXPECT_EQ(ClosestMatch("mout", commands), "mount");
    EXPECT_EQ(ClosestMatch("stauts", commands), "status");
    EXPECT_EQ(ClosestMatch("dicsover", commands), "discover");
    EXPECT_EQ(ClosestMatch("frobnicate", commands), "");
    const std::vector<std::string> options = {"--policy", "--cache", "--cache-size", "-h", "-c"};
    EXPECT_EQ(ClosestMatch("--polcy", options), "--policy");
    EXPECT_EQ(ClosestMatch("--cache_size", options), "--cache-size");  // _ and - alike
    EXPECT_EQ(ClosestMatch("--cache-siz", options), "--cache-size");
    EXPECT_EQ(ClosestMatch("-o", options), "");  // too short to guess from
    EXPECT_EQ(DidYouMean("--polcy", options), " (did you mean '--policy'?)");
    EXPECT_EQ(DidYouMean("--zzz", options, " (see --help)"), " (see --help)");
}

TEST(UserInputTest, UrlsOfAnotherSchemeAreNamedAsSuchWithTheIscsiFormToUse) {
    EXPECT_TRUE(CheckIscsiScheme("iscsi://h:3260/iqn.x/1", "/target-iqn/lun").ok());
    EXPECT_TRUE(CheckIscsiScheme("127.0.0.1:3260", "").ok());  // host:port is not a scheme
    EXPECT_TRUE(CheckIscsiScheme("[fd00::5]:3260", "").ok());
    EXPECT_EQ(CheckIscsiScheme("http://127.0.0.1:3260", "").message(),
              "'http://127.0.0.1:3260' is not an iscsi:// URL (use iscsi://127.0.0.1:3260)");
    EXPECT_EQ(CheckIscsiScheme("http://h:3260", "/target-iqn/lun").message(),
              "'http://h:3260' is not an iscsi:// URL (use iscsi://h:3260/target-iqn/lun)");
    EXPECT_EQ(CheckIscsiScheme("iscsi:/h/iqn.x/1", "/target-iqn/lun").message(),
              "'iscsi:/h/iqn.x/1' is not an iscsi:// URL (use iscsi://h/iqn.x/1)");
}

}  // namespace
}  // namespace lunfs
