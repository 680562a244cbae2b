// `lunfs reservation` against tgtd, with a second initiator (lunfs_test_iscsi) as another node of
// the cluster: the host key on every path and on every new login of one, lunfs's own fence giving
// way to it, reservations taken with it, another node preempting it, and what unmount leaves.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"

namespace lunfs::test {
namespace {
namespace reservation_command {  // apart from reservation_test.cc's helpers in a unity build

using namespace std::chrono_literals;

constexpr const char* kHostKey = "0x0000000000000abc";
constexpr const char* kOtherKey = "0x0000000000000def";

PrState Show(const Lab& lab) { return ShowReservations(lab); }

// Polls pr-show until `want` holds (a removed path unregisters once it has drained).
template <typename Want>
PrState ShowUntil(const Lab& lab, Want want, std::chrono::milliseconds limit = 5000ms) {
    const auto end = std::chrono::steady_clock::now() + limit;
    PrState st = Show(lab);
    while (!want(st) && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(100ms);
        st = Show(lab);
    }
    return st;
}

bool IsLunfsKey(const std::string& key) { return key.rfind("0x4c46", 0) == 0; }

std::string OtherInitiatorWrite(const Lab& lab) {
    const CommandResult r = Shell(TestIscsiBinary() + " write " + lab.Url(1));
    return r.output.substr(0, r.output.find('\n'));
}

// A write through the mount: "" when it succeeded, else the errno's name.
std::string MountWrite(const Mount& mount, uint32_t seed) {
    errno = 0;
    if (WriteDirect(mount.File(), 1 << 20, RandomBytes(64 << 10, seed))) return "";
    return errno != 0 ? std::strerror(errno) : "failed";
}

class ReservationCommandTest : public IntegrationTest {
  protected:
    LabOptions Options() {
        LabOptions lo;
        lo.portals = 2;
        lo.size = "64M";
        return lo;
    }
    CommandResult Reservation(const std::string& args) {
        return Shell(LunfsBinary() + " reservation " + Mp() + " " + args);
    }
    size_t PathCount(const Mount& mount) { return StatsJson(mount)["luns"][0]["paths"].size(); }
};

TEST_F(ReservationCommandTest, TheHostKeyGoesOnEveryPathAndEveryNewLoginAndLunfsGivesWay) {
    Lab lab(LabDir(), Options());
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls(), "--cache none");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    ASSERT_EQ(StatsJson(mount)["luns"][0]["fence"]["mode"], "reservation");
    ASSERT_EQ(Show(lab).keys.size(), 3u) << "two data paths and the control session";

    const CommandResult reg = Reservation("register 0xabc");
    ASSERT_EQ(reg.exit_code, 0) << reg.output;
    PrState st = Show(lab);
    EXPECT_EQ(st.Count(kHostKey), 2u) << st.Text();
    EXPECT_EQ(st.keys.size(), 2u) << "lunfs's own keys are gone: " << st.Text();
    EXPECT_EQ(st.reservation, "none") << "lunfs's own reservation is released";
    const nlohmann::json stats = StatsJson(mount);
    const nlohmann::json& fence = stats["luns"][0]["fence"];
    EXPECT_EQ(fence["mode"], "timed") << fence.dump();
    EXPECT_NE(fence["why"].get<std::string>().find(
                  "the cluster key 0x0000000000000abc is registered on every path (lunfs "
                  "reservation)"),
              std::string::npos)
        << fence.dump();
    EXPECT_EQ(fence["host_key"], kHostKey) << fence.dump();
    const CommandResult status = Shell(LunfsBinary() + " status " + Mp());
    EXPECT_NE(status.output.find("host key 0x0000000000000abc"), std::string::npos)
        << status.output;
    const CommandResult shown = Reservation("show");
    ASSERT_EQ(shown.exit_code, 0) << shown.output;
    EXPECT_NE(shown.output.find("host key 0x0000000000000abc"), std::string::npos) << shown.output;
    EXPECT_NE(shown.output.find("key 0x0000000000000abc  this host\nkey 0x0000000000000abc  "
                                "this host\nreservation none"),
              std::string::npos)
        << shown.output;

    const CommandResult reserve = Reservation("reserve 5");
    ASSERT_EQ(reserve.exit_code, 0) << reserve.output;
    EXPECT_EQ(Show(lab).reservation, std::string(kHostKey) + " type=5");
    EXPECT_NE(Reservation("show").output.find(
                  "reservation 0x0000000000000abc  type 5 write-exclusive-registrants-only  "
                  "this host"),
              std::string::npos);
    ASSERT_TRUE(WaitAllPathsActive(mount, 10s));
    EXPECT_EQ(MountWrite(mount, 1), "") << "every path of this host is a registrant";
    EXPECT_EQ(OtherInitiatorWrite(lab), "RESERVATION_CONFLICT");

    // A path that leaves and comes back: the leaving session takes its registration with it, the
    // new login registers the host key again. The reservation was taken on the first path
    // (lab.Url(0)), which stays.
    CommandResult rm = Shell(LunfsBinary() + " path remove " + Mp() + " lun1 " + lab.Url(1));
    ASSERT_EQ(rm.exit_code, 0) << rm.output;
    st = ShowUntil(lab, [](const PrState& s) { return s.Count(kHostKey) == 1; });
    EXPECT_EQ(st.Count(kHostKey), 1u) << st.Text();
    for (int i = 0; i < 50 && PathCount(mount) != 1; ++i) std::this_thread::sleep_for(100ms);
    CommandResult add = Shell(LunfsBinary() + " path add " + Mp() + " lun1 " + lab.Url(1));
    ASSERT_EQ(add.exit_code, 0) << add.output;
    st = Show(lab);
    EXPECT_EQ(st.Count(kHostKey), 2u) << st.Text();
    EXPECT_EQ(st.keys.size(), 2u) << st.Text();
    EXPECT_EQ(st.reservation, std::string(kHostKey) + " type=5");
    ASSERT_TRUE(WaitAllPathsActive(mount, 10s));
    EXPECT_EQ(MountWrite(mount, 2), "") << "the rejoined path is a registrant again";

    // A session that fails and logs in again registers the key again too. On tgtd the new login
    // is a new I_T nexus and the failed one's registration stays (it_nexus_destroy keeps it):
    // one registration more, until the cluster preempts or clears the key.
    {
        PortFault reset({lab.Port(1)}, /*drop=*/false);
        ASSERT_TRUE(reset.ok());
        std::this_thread::sleep_for(1500ms);
    }
    ASSERT_TRUE(WaitAllPathsActive(mount, 20s));
    st = Show(lab);
    std::printf("registrations after a failed session logged in again: %s\n", st.Text().c_str());
    EXPECT_EQ(st.Count(kHostKey), 3u) << st.Text();
    for (const std::string& k : st.keys) EXPECT_EQ(k, kHostKey) << st.Text();
    EXPECT_EQ(MountWrite(mount, 3), "") << "the path that logged in again is a registrant";

    // Another node fences this one: its PREEMPT removes every registration of the host key and
    // takes the reservation. From then on this host's writes fail; nothing is written silently.
    const CommandResult preempt =
        Shell(TestIscsiBinary() + " pr-preempt " + lab.Url(0) + " def abc 5");
    ASSERT_EQ(preempt.exit_code, 0) << preempt.output;
    st = Show(lab);
    EXPECT_EQ(st.keys, std::vector<std::string>{kOtherKey}) << st.Text();
    EXPECT_EQ(st.reservation, std::string(kOtherKey) + " type=5");
    const std::string refused = MountWrite(mount, 4);
    EXPECT_NE(refused, "") << "a write of a fenced node went through";
    std::printf("a fenced node's write through the mount fails with: %s\n", refused.c_str());
    const CommandResult again = Reservation("reserve 5");
    EXPECT_EQ(again.exit_code, 1) << again.output;
    EXPECT_NE(again.output.find("reservation conflict"), std::string::npos) << again.output;
    EXPECT_EQ(std::count(again.output.begin(), again.output.end(), '\n'), 1) << again.output;

    // The node comes back into the cluster: it registers again and writes as a registrant.
    ASSERT_EQ(Reservation("register abc").exit_code, 0);
    st = Show(lab);
    EXPECT_EQ(st.Count(kHostKey), 2u) << st.Text();
    EXPECT_EQ(MountWrite(mount, 5), "");
    // And takes the reservation back from the other node.
    const CommandResult back = Reservation("preempt 0xdef write-exclusive-registrants-only");
    ASSERT_EQ(back.exit_code, 0) << back.output;
    st = Show(lab);
    EXPECT_EQ(st.reservation, std::string(kHostKey) + " type=5");
    EXPECT_EQ(st.Count(kOtherKey), 0u) << st.Text();
    ASSERT_EQ(mount.Unmount().exit_code, 0);
}

TEST_F(ReservationCommandTest, ReleaseClearUnregisterAndUnmountTakeTheKeyOffTheLun) {
    Lab lab(LabDir(), Options());
    ASSERT_TRUE(lab.ok()) << lab.error();
    {
        Mount mount(Mp(), lab.Urls(), "--cache none");
        ASSERT_TRUE(mount.ok()) << mount.result().output;
        // Nothing to reserve with before a key is registered.
        CommandResult early = Reservation("reserve 5");
        EXPECT_EQ(early.exit_code, 1) << early.output;
        EXPECT_EQ(early.output,
                  "lunfs: reservation reserve: lun1: no key of this host is registered on the "
                  "LUN: run `lunfs reservation MOUNTPOINT register KEY` first\n");
        EXPECT_EQ(Reservation("unregister").exit_code, 1);

        ASSERT_EQ(Reservation("register 0xabc").exit_code, 0);
        ASSERT_EQ(Reservation("reserve 7").exit_code, 0);
        EXPECT_NE(Show(lab).reservation.find("type=7"), std::string::npos);
        const CommandResult wrong = Reservation("release 5");
        EXPECT_EQ(wrong.exit_code, 1) << wrong.output;
        EXPECT_NE(wrong.output.find("lunfs: reservation release: lun1: RELEASE: "),
                  std::string::npos)
            << wrong.output;
        ASSERT_EQ(Reservation("release 7").exit_code, 0);
        PrState st = Show(lab);
        EXPECT_EQ(st.reservation, "none");
        EXPECT_EQ(st.Count(kHostKey), 2u) << st.Text();

        ASSERT_EQ(Reservation("register 0").exit_code, 0);
        st = Show(lab);
        EXPECT_TRUE(st.keys.empty()) << st.Text();
        EXPECT_EQ(StatsJson(mount)["luns"][0]["fence"]["mode"], "timed");
        EXPECT_FALSE(StatsJson(mount)["luns"][0]["fence"].contains("host_key"));

        ASSERT_EQ(Reservation("register 0xabc").exit_code, 0);
        ASSERT_EQ(Reservation("reserve 5").exit_code, 0);
        ASSERT_EQ(Reservation("clear").exit_code, 0);
        st = Show(lab);
        EXPECT_TRUE(st.keys.empty()) << st.Text();
        EXPECT_EQ(st.reservation, "none");
        EXPECT_EQ(Reservation("reserve 5").exit_code, 1) << "clear forgets the host key";

        // Unmounting takes the node out: every path unregisters the key, and a reservation this
        // host held goes with its holder's registration.
        ASSERT_EQ(Reservation("register 0xabc").exit_code, 0);
        ASSERT_EQ(Reservation("reserve 5").exit_code, 0);
        ASSERT_EQ(mount.Unmount().exit_code, 0);
    }
    const PrState after = Show(lab);
    EXPECT_TRUE(after.keys.empty()) << after.Text();
    EXPECT_EQ(after.reservation, "none");
    EXPECT_EQ(OtherInitiatorWrite(lab), "GOOD");
}

TEST_F(ReservationCommandTest, AClusterAlreadyOnTheLunKeepsItsRegistrationsBesideTheHostKey) {
    Lab lab(LabDir(), Options());
    ASSERT_TRUE(lab.ok()) << lab.error();
    const CommandResult other =
        Shell(TestIscsiBinary() + " pr-register " + lab.Url(0) + " def reserve");
    ASSERT_EQ(other.exit_code, 0) << other.output;
    Mount mount(Mp(), lab.Urls(), "--cache none");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    ASSERT_EQ(StatsJson(mount)["luns"][0]["fence"]["mode"], "timed");
    EXPECT_NE(MountWrite(mount, 7), "") << "not a registrant yet";
    const CommandResult reg = Reservation("register abc");
    ASSERT_EQ(reg.exit_code, 0) << reg.output;
    const PrState st = Show(lab);
    EXPECT_EQ(st.Count(kHostKey), 2u) << st.Text();
    EXPECT_EQ(st.Count(kOtherKey), 1u) << st.Text();
    EXPECT_EQ(st.reservation, std::string(kOtherKey) + " type=5");
    for (const std::string& k : st.keys) EXPECT_FALSE(IsLunfsKey(k)) << st.Text();
    EXPECT_EQ(MountWrite(mount, 8), "") << "a registrant writes under type 5";
    const CommandResult shown = Reservation("show");
    EXPECT_NE(shown.output.find("key 0x0000000000000def\n"), std::string::npos) << shown.output;
    EXPECT_NE(shown.output.find("reservation 0x0000000000000def  type 5 "
                                "write-exclusive-registrants-only\n"),
              std::string::npos)
        << shown.output;
    ASSERT_EQ(mount.Unmount().exit_code, 0);
    const PrState after = Show(lab);
    EXPECT_EQ(after.keys, std::vector<std::string>{kOtherKey}) << after.Text();
    EXPECT_EQ(after.reservation, std::string(kOtherKey) + " type=5");
}

TEST_F(ReservationCommandTest, BadInputIsOneLineAndExitTwo) {
    Lab lab(LabDir(), Options());
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls(), "--cache none");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    struct Case {
        std::string args, says;
    };
    for (const Case& c : std::vector<Case>{
             {"frobnicate", "unknown reservation command 'frobnicate'"},
             {"register", "usage: reservation MOUNTPOINT register KEY"},
             {"register 0xnope", "'0xnope' is not a reservation key"},
             {"reserve 2", "unknown reservation type '2'"},
             {"reserve 1", "lets only the one path"},
             {"preempt 0 5", "not 0"},
             {"--lun lun7 show", "no LUN file 'lun7' in the mount"},
         }) {
        const CommandResult r = Reservation(c.args);
        EXPECT_EQ(r.exit_code, 2) << c.args << ": " << r.output;
        EXPECT_NE(r.output.find(c.says), std::string::npos) << c.args << ": " << r.output;
        EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    }
    const CommandResult nowhere = Shell(LunfsBinary() + " reservation " + dir_.path() + " show");
    EXPECT_EQ(nowhere.exit_code, 2) << nowhere.output;
    EXPECT_NE(nowhere.output.find("is not a lunfs mount"), std::string::npos) << nowhere.output;
    EXPECT_TRUE(Show(lab).keys.size() == 3u) << "nothing was sent";
}

}  // namespace reservation_command
}  // namespace
}  // namespace lunfs::test
