#include "paths/iscsi_url.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace lunfs {
namespace {

IscsiUrl MustParse(std::string_view text) {
    Result<IscsiUrl> r = ParseIscsiUrl(text);
    EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
    return r.ok() ? r.value() : IscsiUrl{};
}

// Parses `text`, expects EINVAL, and returns the message.
std::string Refusal(std::string_view text) {
    Result<IscsiUrl> r = ParseIscsiUrl(text);
    EXPECT_FALSE(r.ok()) << text << " was accepted";
    if (r.ok()) return "";
    EXPECT_EQ(r.status().code(), EINVAL) << text;
    EXPECT_FALSE(r.status().retryable()) << text;
    return r.status().message();
}

TEST(ParseIscsiUrlTest, TakesTheDefaultPort) {
    IscsiUrl url = MustParse("iscsi://192.0.2.10/iqn.2026-01.org.example:disk1/0");
    EXPECT_EQ(url.user, "");
    EXPECT_EQ(url.host, "192.0.2.10");
    EXPECT_EQ(url.port, 3260);
    EXPECT_EQ(url.target, "iqn.2026-01.org.example:disk1");
    EXPECT_EQ(url.lun, 0);
}

TEST(ParseIscsiUrlTest, TakesAnExplicitPortAndLun) {
    IscsiUrl url = MustParse("iscsi://san-a.example.net:3261/iqn.2026-01.org.example:disk1/7");
    EXPECT_EQ(url.host, "san-a.example.net");
    EXPECT_EQ(url.port, 3261);
    EXPECT_EQ(url.lun, 7);
}

TEST(ParseIscsiUrlTest, TakesTheExtremePortsAndLuns) {
    EXPECT_EQ(MustParse("iscsi://h:1/iqn.x/0").port, 1);
    EXPECT_EQ(MustParse("iscsi://h:65535/iqn.x/0").port, 65535);
    EXPECT_EQ(MustParse("iscsi://h/iqn.x/16383").lun, 16383);
}

TEST(ParseIscsiUrlTest, TakesABracketedIpv6HostWithPort) {
    IscsiUrl url = MustParse("iscsi://[2001:db8::1]:3262/iqn.2026-01.org.example:d/3");
    EXPECT_EQ(url.host, "2001:db8::1");
    EXPECT_EQ(url.port, 3262);
    EXPECT_EQ(url.lun, 3);
    EXPECT_EQ(url.Portal(), "[2001:db8::1]:3262");
}

TEST(ParseIscsiUrlTest, TakesABracketedIpv6HostWithoutPort) {
    IscsiUrl url = MustParse("iscsi://[::1]/iqn.x/1");
    EXPECT_EQ(url.host, "::1");
    EXPECT_EQ(url.port, 3260);
    EXPECT_EQ(url.Portal(), "[::1]:3260");
}

TEST(ParseIscsiUrlTest, DecodesAPercentEncodedTargetName) {
    EXPECT_EQ(MustParse("iscsi://h/iqn.x%3Ay/0").target, "iqn.x:y");
    EXPECT_EQ(MustParse("iscsi://h/iqn.2026-01.org.example%3adisk1/0").target,
              "iqn.2026-01.org.example:disk1");
}

TEST(ParseIscsiUrlTest, FoldsTheTargetNameToLowerCase) {
    EXPECT_EQ(MustParse("iscsi://h/IQN.2026-01.Org.Example:Disk1/0").target,
              "iqn.2026-01.org.example:disk1");
}

TEST(ParseIscsiUrlTest, AcceptsEuiAndNaaNames) {
    EXPECT_EQ(MustParse("iscsi://h/eui.02004567a425678d/0").target, "eui.02004567a425678d");
    EXPECT_EQ(MustParse("iscsi://h/naa.52004567ba64678d/0").target, "naa.52004567ba64678d");
}

TEST(ParseIscsiUrlTest, KeepsTheUserName) {
    IscsiUrl url = MustParse("iscsi://alice@h:3260/iqn.x/2");
    EXPECT_EQ(url.user, "alice");
    EXPECT_EQ(url.host, "h");
    EXPECT_EQ(url.ToString(), "iscsi://alice@h:3260/iqn.x/2");
    EXPECT_EQ(url.PortalUrl(), "iscsi://alice@h:3260");
}

TEST(ParseIscsiUrlTest, ToStringIsCanonical) {
    IscsiUrl url = MustParse("iscsi://192.0.2.10/iqn.x%3Ay/5");
    EXPECT_EQ(url.Portal(), "192.0.2.10:3260");
    EXPECT_EQ(url.PortalUrl(), "iscsi://192.0.2.10:3260");
    EXPECT_EQ(url.ToString(), "iscsi://192.0.2.10:3260/iqn.x:y/5");
}

TEST(ParseIscsiUrlTest, ToStringParsesBackToTheSameUrl) {
    for (const char* text : {
             "iscsi://192.0.2.10/iqn.2026-01.org.example:disk1/0",
             "iscsi://bob@san.example:3261/iqn.x%3Ay/16383",
             "iscsi://[fe80::1:2]:1/eui.02004567a425678d/9",
             "iscsi://[::1]/IQN.X/1",
         }) {
        SCOPED_TRACE(text);
        IscsiUrl url = MustParse(text);
        IscsiUrl again = MustParse(url.ToString());
        EXPECT_EQ(again, url);
        EXPECT_EQ(again.ToString(), url.ToString());
    }
}

TEST(ParseIscsiUrlTest, RefusesAMissingScheme) {
    EXPECT_EQ(Refusal("192.0.2.10/iqn.x/0"), "bad iSCSI URL: must start with iscsi://");
    EXPECT_EQ(Refusal("http://h/iqn.x/0"), "bad iSCSI URL: must start with iscsi://");
    EXPECT_EQ(Refusal("ISCSI://h/iqn.x/0"), "bad iSCSI URL: must start with iscsi://");
    EXPECT_EQ(Refusal(""), "bad iSCSI URL: must start with iscsi://");
}

TEST(ParseIscsiUrlTest, RefusesAnEmptyHost) {
    EXPECT_EQ(Refusal("iscsi:///iqn.x/0"), "bad iSCSI URL: empty host");
    EXPECT_EQ(Refusal("iscsi://:3260/iqn.x/0"), "bad iSCSI URL: empty host");
    EXPECT_EQ(Refusal("iscsi://[]:3260/iqn.x/0"), "bad iSCSI URL: empty host");
    EXPECT_EQ(Refusal("iscsi://alice@/iqn.x/0"), "bad iSCSI URL: empty host");
}

TEST(ParseIscsiUrlTest, RefusesAnEmptyPort) {
    EXPECT_EQ(Refusal("iscsi://h:/iqn.x/0"), "bad iSCSI URL: empty port");
    EXPECT_EQ(Refusal("iscsi://[::1]:/iqn.x/0"), "bad iSCSI URL: empty port");
}

TEST(ParseIscsiUrlTest, RefusesPortsOutOfRangeOrNotNumbers) {
    EXPECT_EQ(Refusal("iscsi://h:0/iqn.x/0"),
              "bad iSCSI URL: port '0' is not a number from 1 to 65535");
    EXPECT_EQ(Refusal("iscsi://h:65536/iqn.x/0"),
              "bad iSCSI URL: port '65536' is not a number from 1 to 65535");
    EXPECT_EQ(Refusal("iscsi://h:iscsi/iqn.x/0"),
              "bad iSCSI URL: port 'iscsi' is not a number from 1 to 65535");
    EXPECT_EQ(Refusal("iscsi://h:-1/iqn.x/0"),
              "bad iSCSI URL: port '-1' is not a number from 1 to 65535");
    EXPECT_EQ(Refusal("iscsi://h:+3260/iqn.x/0"),
              "bad iSCSI URL: port '+3260' is not a number from 1 to 65535");
    EXPECT_EQ(Refusal("iscsi://h:3260x/iqn.x/0"),
              "bad iSCSI URL: port '3260x' is not a number from 1 to 65535");
    EXPECT_EQ(Refusal("iscsi://h:4294967297/iqn.x/0"),
              "bad iSCSI URL: port '4294967297' is not a number from 1 to 65535");
}

TEST(ParseIscsiUrlTest, RefusesAMissingLun) {
    EXPECT_EQ(Refusal("iscsi://h/iqn.x"),
              "bad iSCSI URL: missing the /LUN number after the target name");
    EXPECT_EQ(Refusal("iscsi://h/iqn.x/"), "bad iSCSI URL: empty LUN");
    EXPECT_EQ(Refusal("iscsi://h"), "bad iSCSI URL: missing /target/lun after the host");
}

TEST(ParseIscsiUrlTest, RefusesLunsOutOfRange) {
    EXPECT_EQ(Refusal("iscsi://h/iqn.x/16384"),
              "bad iSCSI URL: LUN '16384' is not a number from 0 to 16383");
    EXPECT_EQ(Refusal("iscsi://h/iqn.x/-1"),
              "bad iSCSI URL: LUN '-1' is not a number from 0 to 16383");
    EXPECT_EQ(Refusal("iscsi://h/iqn.x/123456"),
              "bad iSCSI URL: LUN '123456' is not a number from 0 to 16383");
}

TEST(ParseIscsiUrlTest, RefusesASignedZeroLun) {
    // A decimal number and nothing else: "-0" is not one, even though it reads as zero.
    EXPECT_EQ(Refusal("iscsi://h/iqn.x/-0"),
              "bad iSCSI URL: LUN '-0' is not a number from 0 to 16383");
}

TEST(ParseIscsiUrlTest, RefusesJunkAfterTheLun) {
    EXPECT_EQ(Refusal("iscsi://h/iqn.x/0x"),
              "bad iSCSI URL: LUN '0x' is not a number from 0 to 16383");
    EXPECT_EQ(Refusal("iscsi://h/iqn.x/1 "),
              "bad iSCSI URL: LUN '1 ' is not a number from 0 to 16383");
    EXPECT_EQ(Refusal("iscsi://h/iqn.x/0/extra"),
              "bad iSCSI URL: LUN 'extra' is not a number from 0 to 16383");
    EXPECT_EQ(Refusal("iscsi://h/iqn.x/0/"), "bad iSCSI URL: empty LUN");
}

TEST(ParseIscsiUrlTest, RefusesAnEmptyTarget) {
    EXPECT_EQ(Refusal("iscsi://h//0"), "bad iSCSI URL: empty target name");
}

TEST(ParseIscsiUrlTest, RefusesATargetNameLongerThan223Bytes) {
    const std::string longest = "iqn." + std::string(219, 'a');  // 223 bytes
    EXPECT_EQ(MustParse("iscsi://h/" + longest + "/0").target, longest);
    EXPECT_EQ(Refusal("iscsi://h/" + longest + "a/0"),
              "bad iSCSI URL: target name is 224 bytes, the limit is 223");
}

TEST(ParseIscsiUrlTest, CountsTheTargetLengthAfterDecoding) {
    // 221 bytes + "%3Ab" decodes to 223 bytes: accepted, although the text is 225 bytes long.
    const std::string name = "iqn." + std::string(217, 'a');
    EXPECT_EQ(MustParse("iscsi://h/" + name + "%3Ab/0").target, name + ":b");
}

TEST(ParseIscsiUrlTest, RefusesBadCharactersInTheTarget) {
    EXPECT_EQ(Refusal("iscsi://h/iqn.x_y/0"),
              "bad iSCSI URL: character '_' is not allowed in a target name");
    EXPECT_EQ(Refusal("iscsi://h/iqn.x%2Fy/0"),
              "bad iSCSI URL: character '/' is not allowed in a target name");
    EXPECT_EQ(Refusal("iscsi://h/iqn.x y/0"),
              "bad iSCSI URL: character ' ' is not allowed in a target name");
    EXPECT_EQ(Refusal("iscsi://h/disk1/0"),
              "bad iSCSI URL: target name must start with iqn., eui. or naa.");
}

TEST(ParseIscsiUrlTest, RefusesBadCharactersInTheHost) {
    EXPECT_EQ(Refusal("iscsi://h*st/iqn.x/0"),
              "bad iSCSI URL: character '*' is not allowed in the host");
    EXPECT_EQ(Refusal("iscsi://[::g]/iqn.x/0"),
              "bad iSCSI URL: character 'g' is not allowed in the host");
    EXPECT_EQ(Refusal("iscsi://[192.0.2.1]/iqn.x/0"), "bad iSCSI URL: bracketed host is not IPv6");
    EXPECT_EQ(Refusal("iscsi://[::1]x/iqn.x/0"), "bad iSCSI URL: junk after ']' in the host");
}

TEST(ParseIscsiUrlTest, RefusesAnUnclosedBracket) {
    EXPECT_EQ(Refusal("iscsi://[::1/iqn.x/0"), "bad iSCSI URL: unclosed '[' in the host");
    EXPECT_EQ(Refusal("iscsi://[2001:db8::1:3260/iqn.x/0"),
              "bad iSCSI URL: unclosed '[' in the host");
}

TEST(ParseIscsiUrlTest, RefusesChapSecretInUrl) {
    const std::string message = Refusal("iscsi://alice%s3cret@h/iqn.x/0");
    EXPECT_NE(message.find("secret"), std::string::npos) << message;
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << "the secret must not be echoed";
    EXPECT_EQ(Refusal("iscsi://alice:s3cret@h/iqn.x/0"), message);
}

TEST(ParseIscsiUrlTest, RefusesAnEmptyUserName) {
    EXPECT_EQ(Refusal("iscsi://@h/iqn.x/0"), "bad iSCSI URL: empty user name before '@'");
}

TEST(ParseIscsiUrlTest, RefusesATruncatedPercentEscape) {
    EXPECT_EQ(Refusal("iscsi://h/iqn.x%3/0"), "bad iSCSI URL: truncated % escape");
    EXPECT_EQ(Refusal("iscsi://h/iqn.x%/0"), "bad iSCSI URL: truncated % escape");
}

TEST(ParseIscsiUrlTest, RefusesAMalformedPercentEscape) {
    EXPECT_EQ(Refusal("iscsi://h/iqn.x%zz/0"), "bad iSCSI URL: malformed % escape");
    EXPECT_EQ(Refusal("iscsi://h/iqn.x%3g/0"), "bad iSCSI URL: malformed % escape");
}

TEST(ParseIscsiUrlTest, RefusesControlCharacters) {
    EXPECT_EQ(Refusal("iscsi://h/iqn.x%0A/0"), "bad iSCSI URL: control character");
    EXPECT_EQ(Refusal("iscsi://h/iqn.x%00/0"), "bad iSCSI URL: control character");
    EXPECT_EQ(Refusal("iscsi://h/iqn.x%7f/0"), "bad iSCSI URL: control character");
    EXPECT_EQ(Refusal("iscsi://h/iqn.\tx/0"), "bad iSCSI URL: control character");
    EXPECT_EQ(Refusal(std::string_view("iscsi://h/iqn.\0x/0", 18)),
              "bad iSCSI URL: control character");
    EXPECT_EQ(Refusal("iscsi://h\n/iqn.x/0"),
              "bad iSCSI URL: character '\n' is not allowed in the host");
    EXPECT_EQ(Refusal("iscsi://al\x01ice@h/iqn.x/0"), "bad iSCSI URL: bad character in user name");
}

}  // namespace
}  // namespace lunfs
