// IscsiPath against an in-process fake target: what it reads at login, what it sends, and how it
// takes what a target or a completion throws at it.
#include "paths/iscsi_path.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "paths/iscsi_url.h"
#include "tests/unit/paths/fake_target.h"

namespace lunfs {
namespace {

using namespace std::chrono_literals;
using test::FakeTarget;
using test::ScsiReply;
using test::ScsiRequest;

IscsiPathOptions Options(const FakeTarget& target) {
    IscsiPathOptions o;
    o.url = ParseIscsiUrl(target.Url()).value();
    o.login_timeout_s = 5;
    o.relogin_timeout_s = 5;
    o.command_timeout_s = 5;
    o.health_interval = 60s;  // no TEST UNIT READY in between
    o.reconnect_min = 20ms;
    return o;
}

std::shared_ptr<IscsiPath> OpenPath(const FakeTarget& target) {
    Result<std::shared_ptr<IscsiPath>> path = IscsiPath::Open(Options(target));
    EXPECT_TRUE(path.ok()) << path.status().ToString();
    return path.ok() ? path.value() : nullptr;
}

// Submits `command` and waits for its completion.
Status RunCommand(IscsiPath& path, PathCommand command) {
    auto done = std::make_shared<std::promise<Status>>();
    std::future<Status> result = done->get_future();
    command.done = [done](Status s) { done->set_value(std::move(s)); };
    path.Submit(std::move(command));
    if (result.wait_for(10s) != std::future_status::ready) {
        return Status::Fail(ETIMEDOUT, "no completion within 10 s");
    }
    return result.get();
}

std::vector<ScsiRequest> RequestsWith(const FakeTarget& target, uint8_t opcode) {
    std::vector<ScsiRequest> out;
    for (const ScsiRequest& r : target.Requests()) {
        if (r.opcode() == opcode) out.push_back(r);
    }
    return out;
}

constexpr uint8_t kInquiry = 0x12;
constexpr uint8_t kModeSense10 = 0x5a;
constexpr uint8_t kRead16 = 0x88;
constexpr uint8_t kWrite16 = 0x8a;

// A device identification page of 4 + 264 bytes: NAA, a 240-byte SCSI name, a T10 vendor id.
std::vector<uint8_t> LongIdentificationPage() {
    std::vector<uint8_t> body = {0x01, 0x03, 0x00, 0x08, 0x60, 0x01, 0x40, 0x50,
                                 0x11, 0x22, 0x33, 0x44, 0x03, 0x08, 0x00, 240};
    body.insert(body.end(), 240, 'n');
    body.insert(body.end(), {0x02, 0x01, 0x00, 0x04, 'L', 'U', 'N', 'F'});
    return FakeTarget::VpdPage(0x83, body);
}

TEST(IscsiPathTest, OpensALunWhoseIdentificationPageIsLongerThan255Bytes) {
    FakeTarget target([](const ScsiRequest& r) {
        if (r.opcode() == kInquiry && (r.cdb[1] & 1) && r.cdb[2] == 0x83) {
            return ScsiReply::Good(LongIdentificationPage());
        }
        return FakeTarget::DiskAnswer(r);
    });
    std::shared_ptr<IscsiPath> path = OpenPath(target);
    ASSERT_TRUE(path);
    ASSERT_EQ(path->info().designators.size(), 3u);
    EXPECT_EQ(path->info().designators[1].value.size(), 240u);
    EXPECT_EQ(path->info().identity,
              "naa.6001405011223344,name." + std::string(240, 'n') + ",t10.LUNF");
    std::vector<uint32_t> lengths;
    for (const ScsiRequest& r : RequestsWith(target, kInquiry)) {
        if (r.cdb[2] == 0x83) lengths.push_back(r.expected_length);
    }
    EXPECT_EQ(lengths, (std::vector<uint32_t>{255, 268}));  // cut, then read whole
}

// MODE SENSE(10) parameter data: the header with DPOFUA as given, the caching page with WCE.
std::vector<uint8_t> CachingModeData(bool dpofua, bool wce) {
    std::vector<uint8_t> data(8 + 20, 0);
    data[1] = static_cast<uint8_t>(data.size() - 2);
    data[3] = dpofua ? 0x10 : 0x00;
    data[8] = 0x08;
    data[9] = 18;
    data[10] = wce ? 0x04 : 0x00;
    return data;
}

TEST(IscsiPathTest, ReadsWriteCacheAndFuaSupportFromModeSense) {
    FakeTarget target([](const ScsiRequest& r) {
        if (r.opcode() == kModeSense10) return ScsiReply::Good(CachingModeData(true, false));
        return FakeTarget::DiskAnswer(r);
    });
    std::shared_ptr<IscsiPath> path = OpenPath(target);
    ASSERT_TRUE(path);
    EXPECT_FALSE(path->info().write_cache);
    EXPECT_TRUE(path->info().fua);
    std::vector<ScsiRequest> asked = RequestsWith(target, kModeSense10);
    ASSERT_EQ(asked.size(), 1u);
    EXPECT_EQ(asked[0].cdb[2], 0x08);  // current values of the caching page
}

TEST(IscsiPathTest, AWriteCacheWithoutFuaIsReadAsSuch) {
    FakeTarget target([](const ScsiRequest& r) {
        if (r.opcode() == kModeSense10) return ScsiReply::Good(CachingModeData(false, true));
        return FakeTarget::DiskAnswer(r);
    });
    std::shared_ptr<IscsiPath> path = OpenPath(target);
    ASSERT_TRUE(path);
    EXPECT_TRUE(path->info().write_cache);
    EXPECT_FALSE(path->info().fua);
}

TEST(IscsiPathTest, ATargetThatRefusesModeSenseKeepsTheStrictDefaultsAndLogsIn) {
    FakeTarget target;  // MODE SENSE is ILLEGAL REQUEST there
    std::shared_ptr<IscsiPath> path = OpenPath(target);
    ASSERT_TRUE(path);
    EXPECT_TRUE(path->info().write_cache);
    EXPECT_FALSE(path->info().fua);
    EXPECT_EQ(path->state(), PathState::kUp);
}

TEST(IscsiPathTest, SendsWriteSixteenWithFuaOnlyWhenTheCommandAsksForIt) {
    FakeTarget target;
    std::shared_ptr<IscsiPath> path = OpenPath(target);
    ASSERT_TRUE(path);
    std::vector<char> block(512, 'x');
    for (bool fua : {true, false}) {
        PathCommand write{CommandKind::kWrite, 8, 1, {{block.data(), block.size()}}, nullptr};
        write.fua = fua;
        Status s = RunCommand(*path, std::move(write));
        ASSERT_TRUE(s.ok()) << s.ToString();
    }
    std::vector<ScsiRequest> writes = RequestsWith(target, kWrite16);
    ASSERT_EQ(writes.size(), 2u);
    EXPECT_EQ(writes[0].cdb[1] & 0x08, 0x08);  // FUA
    EXPECT_EQ(writes[1].cdb[1] & 0x08, 0x00);
    EXPECT_EQ(writes[0].data_out, std::vector<uint8_t>(512, 'x'));
}

TEST(IscsiPathTest, AReadAnsweredCheckConditionWithoutSenseFailsRetryably) {
    FakeTarget target([](const ScsiRequest& r) {
        if (r.opcode() == kRead16) {
            ScsiReply check;  // CHECK CONDITION without sense data
            check.status = 0x02;
            return check;
        }
        return FakeTarget::DiskAnswer(r);
    });
    std::shared_ptr<IscsiPath> path = OpenPath(target);
    ASSERT_TRUE(path);
    std::vector<char> block(512);
    Status s = RunCommand(*path, {CommandKind::kRead, 0, 1, {{block.data(), block.size()}}, {}});
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(s.retryable()) << s.ToString();
    EXPECT_EQ(s.scope(), Scope::kExtent);
}

TEST(IscsiPathTest, ACompletionThatThrowsFailsThePathInsteadOfEscaping) {
    FakeTarget target;
    std::shared_ptr<IscsiPath> path = OpenPath(target);
    ASSERT_TRUE(path);
    auto went_down = std::make_shared<std::promise<void>>();
    path->SetStateListener([went_down, once = std::make_shared<std::once_flag>()](PathState s) {
        if (s == PathState::kDown) std::call_once(*once, [&] { went_down->set_value(); });
    });
    PathCommand check{CommandKind::kTestUnitReady, 0, 0, {}, [](Status) {
                          throw std::runtime_error("a completion went wrong");
                      }};
    path->Submit(std::move(check));
    EXPECT_EQ(went_down->get_future().wait_for(10s), std::future_status::ready);
    // The path logs in again and serves as before.
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (path->state() != PathState::kUp && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_EQ(path->state(), PathState::kUp);
    EXPECT_EQ(target.logins(), 2);
    Status s = RunCommand(*path, {CommandKind::kTestUnitReady, 0, 0, {}, {}});
    EXPECT_TRUE(s.ok()) << s.ToString();
    path->SetStateListener(nullptr);
}

}  // namespace
}  // namespace lunfs
