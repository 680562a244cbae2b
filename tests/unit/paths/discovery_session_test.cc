// Discovery against an in-process fake target: what a session does with answers that come late.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "paths/discovery.h"
#include "paths/iscsi_url.h"
#include "tests/unit/paths/fake_target.h"

namespace lunfs {
namespace {

using namespace std::chrono_literals;
using test::FakeTarget;
using test::ScsiReply;
using test::ScsiRequest;

std::vector<uint8_t> StandardInquiry(const char* product) {
    ScsiRequest inquiry;
    inquiry.cdb[0] = 0x12;
    inquiry.expected_length = 255;
    ScsiReply disk = FakeTarget::DiskAnswer(inquiry);
    std::vector<uint8_t> page = disk.data;
    std::fill(page.begin() + 16, page.begin() + 32, ' ');
    for (size_t i = 0; product[i] != '\0' && i < 16; ++i) page[16 + i] = product[i];
    return page;
}

// LUN 0's INQUIRY is answered only after its wait timed out, while LUN 1's is being waited for:
// the late answer must not be taken for LUN 1's (nor be written anywhere but into state that is
// still alive, which AddressSanitizer checks).
TEST(ProbeTargetTest, AnAnswerThatComesAfterItsTimeoutIsNotTakenForAnotherCommand) {
    FakeTarget target([](const ScsiRequest& r) {
        if (r.opcode() == 0xa0) {  // REPORT LUNS: LUNs 0 and 1
            std::vector<uint8_t> d(24, 0);
            d[3] = 16;
            d[17] = 1;
            return ScsiReply::Good(d);
        }
        if (r.opcode() == 0x12 && (r.cdb[1] & 1) == 0) {
            ScsiReply reply = ScsiReply::Good(StandardInquiry(r.lun == 0 ? "late" : "lun1"));
            reply.delay = r.lun == 0 ? 1500ms : 900ms;  // LUN 0: past the 1 s timeout
            return reply;
        }
        return FakeTarget::DiskAnswer(r);
    });
    DiscoveryOptions options;
    options.timeout_s = 1;
    Result<std::vector<LunReport>> luns =
        ProbeTarget(ParseIscsiUrl(target.Url()).value(), FakeTarget::kIqn, options);
    ASSERT_TRUE(luns.ok()) << luns.status().ToString();
    ASSERT_EQ(luns->size(), 2u);
    EXPECT_EQ(luns.value()[0].status.code(), ETIMEDOUT);
    EXPECT_TRUE(luns.value()[1].status.ok()) << luns.value()[1].status.ToString();
    EXPECT_EQ(luns.value()[1].info.inquiry.product, "lun1");
}

// A command still unanswered when the session ends is cancelled by iscsi_destroy_context(): its
// callback runs then, into state that must still be alive (AddressSanitizer checks).
TEST(ProbeTargetTest, ACommandLeftUnansweredIsCancelledIntoLiveState) {
    FakeTarget target([](const ScsiRequest& r) {
        if (r.opcode() == 0x12 && (r.cdb[1] & 1) == 0) {
            ScsiReply silent;
            silent.silent = true;
            return silent;
        }
        return FakeTarget::DiskAnswer(r);
    });
    target.IgnoreLogouts();
    DiscoveryOptions options;
    options.timeout_s = 1;
    Result<std::vector<LunReport>> luns =
        ProbeTarget(ParseIscsiUrl(target.Url()).value(), FakeTarget::kIqn, options);
    ASSERT_TRUE(luns.ok()) << luns.status().ToString();
    ASSERT_EQ(luns->size(), 1u);
    EXPECT_EQ(luns.value()[0].status.code(), ETIMEDOUT);
}

}  // namespace
}  // namespace lunfs
