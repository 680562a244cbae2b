// The network-free parts of discovery: REPORT LUNS data, target addresses, grouping into paths.
#include "paths/discovery.h"

#include <gtest/gtest.h>

namespace lunfs {
namespace {

std::vector<uint8_t> ReportLuns(const std::vector<std::array<uint8_t, 2>>& entries,
                                uint32_t claimed = 0) {
    const uint32_t length = claimed ? claimed : static_cast<uint32_t>(entries.size() * 8);
    std::vector<uint8_t> out = {static_cast<uint8_t>(length >> 24),
                                static_cast<uint8_t>(length >> 16),
                                static_cast<uint8_t>(length >> 8),
                                static_cast<uint8_t>(length),
                                0,
                                0,
                                0,
                                0};
    for (const auto& e : entries) {
        out.insert(out.end(), {e[0], e[1], 0, 0, 0, 0, 0, 0});
    }
    return out;
}

TEST(DiscoveryTest, ReportLunsReadsPeripheralAndFlatAddressesSorted) {
    Result<std::vector<int>> luns =
        ParseReportLuns(ReportLuns({{0x00, 0x02}, {0x00, 0x00}, {0x41, 0x05}, {0x00, 0x01}}));
    ASSERT_TRUE(luns.ok()) << luns.status().message();
    EXPECT_EQ(luns.value(), (std::vector<int>{0, 1, 2, 0x105}));
}

TEST(DiscoveryTest, ReportLunsSkipsOtherAddressingAndRefusesTruncatedLists) {
    Result<std::vector<int>> luns = ParseReportLuns(ReportLuns({{0x80, 0x01}, {0x00, 0x03}}));
    ASSERT_TRUE(luns.ok());
    EXPECT_EQ(luns.value(), std::vector<int>{3});
    EXPECT_FALSE(ParseReportLuns(ReportLuns({{0x00, 0x01}}, 16)).ok());
    EXPECT_FALSE(ParseReportLuns(ReportLuns({{0x00, 0x01}}, 12)).ok());
    EXPECT_FALSE(ParseReportLuns(std::vector<uint8_t>(5, 0)).ok());
    Result<std::vector<int>> empty = ParseReportLuns(ReportLuns({}));
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->empty());
}

TEST(DiscoveryTest, TargetAddressesLoseTheirTagAndGainTheDefaultPort) {
    EXPECT_EQ(PortalOfTargetAddress("192.0.2.1:3261,1"), "192.0.2.1:3261");
    EXPECT_EQ(PortalOfTargetAddress("192.0.2.1,1"), "192.0.2.1:3260");
    EXPECT_EQ(PortalOfTargetAddress("192.0.2.1"), "192.0.2.1:3260");
    EXPECT_EQ(PortalOfTargetAddress("[fd00::1]:3262,2"), "[fd00::1]:3262");
    EXPECT_EQ(PortalOfTargetAddress("[fd00::1],2"), "[fd00::1]:3260");
}

LunReport Report(int lun, const std::string& identity) {
    LunReport r;
    r.lun = lun;
    r.info.identity = identity;
    return r;
}

PortalProbe Probe(const std::string& host, const std::string& target, std::vector<LunReport> luns) {
    PortalProbe p;
    p.portal.host = host;
    p.target = target;
    p.luns = std::move(luns);
    return p;
}

TEST(DiscoveryTest, PortalsShowingOneIdentityBecomePathsOfOneLun) {
    std::vector<PortalProbe> probes = {
        Probe("192.0.2.10", "iqn.t:a", {Report(0, "naa.c0"), Report(1, "naa.d1"), Report(2, "")}),
        Probe("192.0.2.11", "iqn.t:a", {Report(0, "naa.c0"), Report(1, "naa.d1"), Report(2, "")}),
    };
    probes.push_back(Probe("192.0.2.12", "iqn.t:a", {}));
    probes.back().luns = Status::Fail(EACCES, "refused");
    const std::vector<DiscoveredLun> luns = GroupPaths(probes);
    ASSERT_EQ(luns.size(), 4u);  // LUN 2 has no identity: each portal's stays alone
    EXPECT_EQ(luns[0].lun, 0);
    EXPECT_EQ(luns[0].paths.size(), 2u);
    EXPECT_EQ(luns[1].lun, 1);
    ASSERT_EQ(luns[1].paths.size(), 2u);
    EXPECT_EQ(luns[1].paths[0].ToString(), "iscsi://192.0.2.10:3260/iqn.t:a/1");
    EXPECT_EQ(luns[1].paths[1].ToString(), "iscsi://192.0.2.11:3260/iqn.t:a/1");
    EXPECT_EQ(luns[2].paths.size(), 1u);
    EXPECT_EQ(luns[3].paths.size(), 1u);
}

TEST(DiscoveryTest, OneLunReachedThroughTwoTargetsIsOneLun) {
    const std::vector<DiscoveredLun> luns = GroupPaths({
        Probe("192.0.2.10", "iqn.t:b", {Report(3, "naa.x")}),
        Probe("192.0.2.10", "iqn.t:a", {Report(7, "naa.x")}),
    });
    ASSERT_EQ(luns.size(), 1u);
    EXPECT_EQ(luns[0].paths.size(), 2u);
    EXPECT_EQ(luns[0].paths[1].target, "iqn.t:a");
    EXPECT_EQ(luns[0].paths[1].lun, 7);
}

TEST(DiscoveryTest, UnreadableLunsAreNeverMergedWithOthers) {
    LunReport broken = Report(1, "naa.d1");
    broken.status = Status::Fail(EIO, "READ CAPACITY failed");
    const std::vector<DiscoveredLun> luns = GroupPaths({
        Probe("192.0.2.10", "iqn.t:a", {broken}),
        Probe("192.0.2.11", "iqn.t:a", {broken}),
    });
    ASSERT_EQ(luns.size(), 2u);
    EXPECT_FALSE(luns[0].status.ok());
}

}  // namespace
}  // namespace lunfs
