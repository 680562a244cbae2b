// The reservation fence against tgtd, with a second initiator (lunfs_test_iscsi) that does what
// another host would: lunfs registers every session and reserves the LUN only when no one else
// is registered, leaves a cluster's registrations alone, and leaves the LUN as it found it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;

PrState Show(const Lab& lab) { return ShowReservations(lab); }

bool IsLunfsKey(const std::string& key) { return key.rfind("0x4c46", 0) == 0; }

std::string OtherInitiatorWrite(const Lab& lab) {
    const CommandResult r = Shell(TestIscsiBinary() + " write " + lab.Url(1));
    return r.output.substr(0, r.output.find('\n'));
}

class ReservationTest : public IntegrationTest {
  protected:
    LabOptions Options() {
        LabOptions lo;
        lo.portals = 2;
        lo.size = "64M";
        return lo;
    }
};

TEST_F(ReservationTest, EverySessionRegistersAndTheLunIsLeftAsItWasFound) {
    Lab lab(LabDir(), Options());
    ASSERT_TRUE(lab.ok()) << lab.error();
    {
        Mount mount(Mp(), lab.Urls(), "--cache none");
        ASSERT_TRUE(mount.ok()) << mount.result().output;
        const nlohmann::json st = StatsJson(mount);
        EXPECT_EQ(st["luns"][0]["fence"]["mode"], "reservation") << st.dump();
        const PrState held = Show(lab);
        // Two data paths and the control session, all lunfs's; the reservation is one of them.
        EXPECT_EQ(held.keys.size(), 3u);
        for (const std::string& k : held.keys) EXPECT_TRUE(IsLunfsKey(k)) << k;
        EXPECT_NE(held.reservation.find("type=5"), std::string::npos) << held.reservation;
        EXPECT_TRUE(IsLunfsKey(held.reservation)) << held.reservation;
        // lunfs writes; a host that is not registered cannot while lunfs holds the LUN.
        ASSERT_TRUE(WriteDirect(mount.File(), 0, RandomBytes(64 << 10, 5)));
        EXPECT_EQ(OtherInitiatorWrite(lab), "RESERVATION_CONFLICT");
        ASSERT_EQ(mount.Unmount().exit_code, 0);
    }
    const PrState after = Show(lab);
    EXPECT_TRUE(after.keys.empty()) << after.keys.front();
    EXPECT_EQ(after.reservation, "none");
    EXPECT_EQ(OtherInitiatorWrite(lab), "GOOD");
}

TEST_F(ReservationTest, AnotherInitiatorsRegistrationIsLeftAloneAndTheFenceFallsBackToTheTimer) {
    Lab lab(LabDir(), Options());
    ASSERT_TRUE(lab.ok()) << lab.error();
    // A cluster node's key, with its reservation.
    const CommandResult reg =
        Shell(TestIscsiBinary() + " pr-register " + lab.Url(0) + " abc123 reserve");
    ASSERT_EQ(reg.exit_code, 0) << reg.output;
    {
        Mount mount(Mp(), lab.Urls(), "--cache none --fence reservation");
        EXPECT_FALSE(mount.ok()) << "--fence reservation on a LUN another initiator reserved";
        EXPECT_NE(mount.result().output.find("other initiators"), std::string::npos)
            << mount.result().output;
    }
    {
        Mount mount(Mp(), lab.Urls(), "--cache none");
        ASSERT_TRUE(mount.ok()) << mount.result().output;
        const nlohmann::json st = StatsJson(mount);
        EXPECT_EQ(st["luns"][0]["fence"]["mode"], "timed") << st.dump();
        EXPECT_NE(st["luns"][0]["fence"]["why"].get<std::string>().find("0x0000000000abc123"),
                  std::string::npos)
            << st.dump();
        const CommandResult status = Shell(LunfsBinary() + " status " + Mp());
        EXPECT_NE(status.output.find("fence timed"), std::string::npos) << status.output;
        const PrState during = Show(lab);
        ASSERT_EQ(during.keys.size(), 1u) << "lunfs registered beside the cluster";
        EXPECT_EQ(during.keys[0], "0x0000000000abc123");
        ASSERT_EQ(mount.Unmount().exit_code, 0);
    }
    const PrState after = Show(lab);
    ASSERT_EQ(after.keys.size(), 1u);
    EXPECT_EQ(after.keys[0], "0x0000000000abc123");
    EXPECT_EQ(after.reservation, "0x0000000000abc123 type=5");
    EXPECT_EQ(Shell(TestIscsiBinary() + " pr-clear " + lab.Url(0)).exit_code, 0);
}

TEST_F(ReservationTest, TheRegistrationsOfACrashedDaemonAreRemovedByTheNextMount) {
    Lab lab(LabDir(), Options());
    ASSERT_TRUE(lab.ok()) << lab.error();
    {
        Mount mount(Mp(), lab.Urls(), "--cache none");
        ASSERT_TRUE(mount.ok()) << mount.result().output;
        const pid_t pid = mount.Pid();
        ASSERT_GT(pid, 0);
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        for (int i = 0; i < 100 && kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(50ms);
        std::this_thread::sleep_for(500ms);  // the auto-unmount helper removes the mount
    }
    const PrState left = Show(lab);
    EXPECT_EQ(left.keys.size(), 3u) << "the killed daemon's keys stay on the target";
    Mount again(Mp(), lab.Urls(), "--cache none");
    ASSERT_TRUE(again.ok()) << again.result().output;
    EXPECT_EQ(StatsJson(again)["luns"][0]["fence"]["mode"], "reservation");
    const PrState now = Show(lab);
    EXPECT_EQ(now.keys.size(), 3u) << "the leftovers were not removed";
    ASSERT_EQ(again.Unmount().exit_code, 0);
    EXPECT_TRUE(Show(lab).keys.empty());
}

}  // namespace
}  // namespace lunfs::test
