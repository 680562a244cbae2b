#include "paths/reservation.h"

#include <gtest/gtest.h>

#include <set>

#include "paths/target_fence.h"

namespace lunfs {
namespace {

std::vector<uint8_t> Be(uint64_t v, int bytes) {
    std::vector<uint8_t> out;
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return out;
}

std::vector<uint8_t> ReadKeysAnswer(uint32_t generation, const std::vector<uint64_t>& keys,
                                    uint32_t claimed_length) {
    std::vector<uint8_t> out = Be(generation, 4);
    for (uint8_t b : Be(claimed_length, 4)) out.push_back(b);
    for (uint64_t k : keys) {
        for (uint8_t b : Be(k, 8)) out.push_back(b);
    }
    return out;
}

TEST(ParseReadKeysTest, ListsEveryKey) {
    const auto data = ReadKeysAnswer(7, {0x1122334455667788, 0xa}, 16);
    Result<RegisteredKeys> r = ParseReadKeys(data);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->generation, 7u);
    EXPECT_EQ(r->keys, (std::vector<uint64_t>{0x1122334455667788, 0xa}));
}

TEST(ParseReadKeysTest, AListCutAtTheAllocationLengthIsAnError) {
    // A key that did not arrive could be one that must be preempted.
    const auto data = ReadKeysAnswer(1, {1}, 16);
    EXPECT_FALSE(ParseReadKeys(data).ok());
}

TEST(ParseReadKeysTest, ShortOrOddAnswersAreErrors) {
    EXPECT_FALSE(ParseReadKeys(std::vector<uint8_t>(7)).ok());
    EXPECT_FALSE(ParseReadKeys(ReadKeysAnswer(1, {1}, 9)).ok());
    Result<RegisteredKeys> none = ParseReadKeys(ReadKeysAnswer(3, {}, 0));
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->keys.empty());
}

TEST(ParseReadReservationTest, NoReservationAndAHolder) {
    Result<std::optional<ReservationHolder>> none = ParseReadReservation(ReadKeysAnswer(2, {}, 0));
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value());

    std::vector<uint8_t> held = ReadKeysAnswer(2, {0xabcdef}, 16);
    held.resize(24);
    held[21] = 0x05;  // scope LU, type 5
    Result<std::optional<ReservationHolder>> r = ParseReadReservation(held);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->has_value());
    EXPECT_EQ(r.value()->key, 0xabcdefu);
    EXPECT_EQ(r.value()->type, reserve::kWriteExclusiveRegistrantsOnly);
    held.resize(20);
    EXPECT_FALSE(ParseReadReservation(held).ok());
}

TEST(ParseReportCapabilitiesTest, ReadsTheTypeMaskAsTgtdSendsIt) {
    // tgtd 1.0.85: TMV, and types 7, 6, 5, 3, 1 in byte 4, type 8 in byte 5.
    const std::vector<uint8_t> data = {0x00, 0x08, 0x00, 0x80, 0xea, 0x01, 0x00, 0x00};
    Result<ReservationCapabilities> r = ParseReportCapabilities(data);
    ASSERT_TRUE(r.ok());
    for (int type : {1, 3, 5, 6, 7, 8}) {
        EXPECT_TRUE(r->Supports(static_cast<uint8_t>(type))) << type;
    }
    const std::vector<uint8_t> only_we = {0x00, 0x08, 0x00, 0x80, 0x02, 0x00};
    EXPECT_FALSE(
        ParseReportCapabilities(only_we)->Supports(reserve::kWriteExclusiveRegistrantsOnly));
    const std::vector<uint8_t> no_mask = {0x00, 0x08, 0x00, 0x00, 0xff, 0xff};
    EXPECT_FALSE(ParseReportCapabilities(no_mask)->type_mask_valid);
    EXPECT_FALSE(ParseReportCapabilities(std::vector<uint8_t>(5)).ok());
}

TEST(ReservationKeysTest, EveryClaimIsANewLiveKeyOfThisProcessUntilRetired) {
    ReservationKeys keys("iqn.2026-11.io.lunfs:host", 4242);
    std::set<uint64_t> seen;
    for (int i = 0; i < 1000; ++i) {
        const uint64_t k = keys.Claim();
        EXPECT_NE(k, 0u);
        EXPECT_TRUE(seen.insert(k).second) << "key used twice";
        EXPECT_TRUE(keys.Ours(k));
        EXPECT_TRUE(keys.OfThisHost(k));
        EXPECT_TRUE(ReservationKeys::OfLunfs(k));
        EXPECT_EQ(ReservationKeys::ProcessOf(k), 4242u);
    }
    const uint64_t k = *seen.begin();
    EXPECT_TRUE(keys.Live().contains(k));
    keys.Retire(k);
    EXPECT_FALSE(keys.Live().contains(k));
    EXPECT_EQ(keys.Live().size(), 999u);
}

TEST(ReservationKeysTest, TellsTheKeysOfOtherProcessesAndHostsApart) {
    ReservationKeys mine("iqn.2026-11.io.lunfs:host", 100);
    ReservationKeys sibling("iqn.2026-11.io.lunfs:host", 101);
    ReservationKeys elsewhere("iqn.2026-11.io.lunfs:other-host", 100);
    const uint64_t s = sibling.Claim(), e = elsewhere.Claim();
    EXPECT_FALSE(mine.Ours(s));
    EXPECT_TRUE(mine.OfThisHost(s));
    EXPECT_FALSE(mine.Ours(e));
    EXPECT_FALSE(mine.OfThisHost(e));
    EXPECT_FALSE(ReservationKeys::OfLunfs(0xa));  // a cluster's key
}

TEST(ReservationKeysTest, TheCounterWrapsWithoutEverGivingZero) {
    ReservationKeys keys("iqn.x", 1);
    for (int i = 0; i < 70000; ++i) EXPECT_NE(keys.Claim() & 0xffff, 0u);
}

TEST(ReservationKeysTest, AHostKeyIsWhatEverySessionClaimsAndStaysLiveWhileOneHoldsIt) {
    auto keys = ReservationKeys::ForHostKey(0xabc);
    EXPECT_TRUE(keys->host_mode());
    EXPECT_TRUE(keys->UnregisterAtLogout());
    EXPECT_TRUE(keys->Live().empty());
    EXPECT_EQ(keys->Claim(), 0xabcu);
    EXPECT_EQ(keys->Claim(), 0xabcu);
    EXPECT_EQ(keys->Live(), std::set<uint64_t>{0xabc});
    keys->Retire(0xabc);
    EXPECT_EQ(keys->Live(), std::set<uint64_t>{0xabc}) << "the other session still holds it";
    keys->Retire(0xabc);
    EXPECT_TRUE(keys->Live().empty());
    keys->Retire(0xabc);  // more retirements than claims change nothing
    EXPECT_TRUE(keys->Live().empty());
    // Neither this process's nor this host's lunfs keys: a fence never preempts it as its own.
    EXPECT_FALSE(keys->Ours(0xabc));
    EXPECT_FALSE(keys->OfThisHost(0xabc));
}

TEST(ReservationKeysTest, HostKeyZeroRegistersNothingAndRemovesNothingAtLogout) {
    auto keys = ReservationKeys::ForHostKey(0);
    EXPECT_EQ(keys->Claim(), 0u);
    EXPECT_TRUE(keys->Live().empty());
    EXPECT_FALSE(keys->UnregisterAtLogout());
    ReservationKeys process("iqn.2026-11.io.lunfs:test", 42);
    EXPECT_FALSE(process.host_mode());
    EXPECT_FALSE(process.UnregisterAtLogout());
}

TEST(ParseReservationKeyTest, HexWithOrWithoutThePrefix) {
    EXPECT_EQ(ParseReservationKey("0xabc").value(), 0xabcu);
    EXPECT_EQ(ParseReservationKey("0XABC").value(), 0xabcu);
    EXPECT_EQ(ParseReservationKey("abc123").value(), 0xabc123u);
    EXPECT_EQ(ParseReservationKey("0").value(), 0u);
    EXPECT_EQ(ParseReservationKey("ffffffffffffffff").value(), ~uint64_t{0});
    for (const char* bad :
         {"", "0x", "xyz", "0x1g", "-1", "1 2", "12345678901234567", "0x00000000000000001"}) {
        Result<uint64_t> r = ParseReservationKey(bad);
        EXPECT_FALSE(r.ok()) << bad;
        if (!r.ok()) {
            EXPECT_EQ(r.status().code(), EINVAL);
        }
    }
}

TEST(ParseReservationTypeTest, ByNumberOrName) {
    EXPECT_EQ(ParseReservationType("5").value(), reserve::kWriteExclusiveRegistrantsOnly);
    EXPECT_EQ(ParseReservationType("write-exclusive-registrants-only").value(), 5);
    EXPECT_EQ(ParseReservationType("exclusive-access-registrants-only").value(), 6);
    EXPECT_EQ(ParseReservationType("write-exclusive-all-registrants").value(), 7);
    EXPECT_EQ(ParseReservationType("exclusive-access-all-registrants").value(), 8);
    EXPECT_EQ(ParseReservationType("write-exclusive").value(), 1);
    EXPECT_EQ(ParseReservationType("3").value(), 3);
    for (const char* bad : {"", "0", "2", "4", "9", "05", "we-ro", "Write-Exclusive"}) {
        EXPECT_FALSE(ParseReservationType(bad).ok()) << bad;
    }
    for (int t : {1, 3, 5, 6, 7, 8}) {
        EXPECT_EQ(ParseReservationType(ReservationTypeSlug(static_cast<uint8_t>(t))).value(), t);
    }
    EXPECT_STREQ(ReservationTypeSlug(2), "");
}

TEST(ParseFenceRequestTest, KnowsTheFourModes) {
    EXPECT_EQ(ParseFenceRequest("auto").value(), FenceRequest::kAuto);
    EXPECT_EQ(ParseFenceRequest("reservation").value(), FenceRequest::kReservation);
    EXPECT_EQ(ParseFenceRequest("reset").value(), FenceRequest::kReset);
    EXPECT_EQ(ParseFenceRequest("timed").value(), FenceRequest::kTimed);
    EXPECT_FALSE(ParseFenceRequest("strong").ok());
}

}  // namespace
}  // namespace lunfs
