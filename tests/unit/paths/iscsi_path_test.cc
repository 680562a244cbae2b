// IscsiPath against an in-process fake target: what it reads at login, what it sends, and how it
// takes what a target or a completion throws at it.
#include "paths/iscsi_path.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <set>
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

constexpr uint8_t kTestUnitReady = 0x00;
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

// The process's threads (their kernel ids).
std::set<pid_t> Threads() {
    std::set<pid_t> out;
    if (DIR* dir = opendir("/proc/self/task")) {
        while (dirent* e = readdir(dir)) {
            if (e->d_name[0] != '.') out.insert(static_cast<pid_t>(std::atoi(e->d_name)));
        }
        closedir(dir);
    }
    return out;
}

// True while thread `tid` waits in poll().
bool InPoll(pid_t tid) {
    std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/syscall");
    long number = -1;
    return (in >> number) && (number == SYS_poll || number == SYS_ppoll);
}

// Holds one thread still where it is, with a signal whose handler waits until Resume(): what
// happens meanwhile (an answer arriving, a command submitted) is all there when it goes on. A
// poll() it waited in returns EINTR, with nothing reported ready.
class ThreadPause {
  public:
    explicit ThreadPause(pid_t tid) : tid_(tid) {
        struct sigaction sa {};
        sa.sa_handler = &ThreadPause::OnSignal;
        sigemptyset(&sa.sa_mask);
        sigaction(kSignal, &sa, &old_);
    }
    ~ThreadPause() {
        Resume();
        sigaction(kSignal, &old_, nullptr);
    }
    // Waits (up to 5 s) for the thread to be in poll(), then stops it there; false if it did not.
    bool PauseInPoll() {
        const auto until = std::chrono::steady_clock::now() + 5s;
        while (!InPoll(tid_)) {
            if (std::chrono::steady_clock::now() > until) return false;
            std::this_thread::sleep_for(1ms);
        }
        resume_ = false;
        syscall(SYS_tgkill, getpid(), tid_, kSignal);
        while (!paused_) {
            if (std::chrono::steady_clock::now() > until) return false;
            std::this_thread::sleep_for(1ms);
        }
        return true;
    }
    void Resume() { resume_ = true; }

  private:
    static constexpr int kSignal = SIGUSR2;
    static void OnSignal(int) {
        paused_ = true;
        while (!resume_) {
            const timespec tick{0, 1'000'000};
            nanosleep(&tick, nullptr);
        }
        paused_ = false;
    }
    static inline std::atomic<bool> paused_{false};
    static inline std::atomic<bool> resume_{true};
    pid_t tid_;
    struct sigaction old_ {};
};

// The target answers a command with a failure that condemns the session while a write waits to
// be sent: the path reads that answer and the write's PDU together. Nothing more may be written on
// that session, since the write is failed back to be retried elsewhere: had it left, the target
// would run it as well.
TEST(IscsiPathTest, WritesNothingOnASessionAfterReadingAFailureThatCondemnsIt) {
    std::promise<void> answer;
    std::shared_future<void> answer_now = answer.get_future().share();
    auto hold_check = std::make_shared<std::atomic<bool>>(false);
    // libiscsi's own TEST UNIT READY at each login is answered; the path's check is held.
    FakeTarget target([answer_now, hold_check](const ScsiRequest& r) {
        if (r.opcode() == kTestUnitReady && hold_check->exchange(false)) {
            answer_now.wait();
            return ScsiReply::Check(0x02, 0x04, 0x0a);  // NOT READY, ALUA state transition
        }
        return FakeTarget::DiskAnswer(r);
    });
    // However the test ends, the target's thread is not left waiting.
    struct Release {
        std::promise<void>& answer;
        ~Release() {
            try {
                answer.set_value();
            } catch (const std::future_error&) {
            }
        }
    } release{answer};
    const std::set<pid_t> before = Threads();
    IscsiPathOptions options = Options(target);
    options.quiet_probe = 60s;  // no NOP-Out while the check waits
    Result<std::shared_ptr<IscsiPath>> opened = IscsiPath::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    std::shared_ptr<IscsiPath> path = opened.value();
    *hold_check = true;
    const size_t login_checks = RequestsWith(target, kTestUnitReady).size();
    std::vector<pid_t> started;
    for (pid_t tid : Threads()) {
        if (!before.count(tid)) started.push_back(tid);
    }
    ASSERT_EQ(started.size(), 1u);  // the path's thread

    auto check_done = std::make_shared<std::promise<Status>>();
    path->Submit({CommandKind::kTestUnitReady, 0, 0, {}, [check_done](Status s) {
                      check_done->set_value(std::move(s));
                  }});
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (RequestsWith(target, kTestUnitReady).size() == login_checks &&
           std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(1ms);
    }
    ASSERT_EQ(RequestsWith(target, kTestUnitReady).size(), login_checks + 1);

    std::future<Status> written;
    {
        ThreadPause pause(started[0]);
        ASSERT_TRUE(pause.PauseInPoll());
        // Held: the write is queued, and the check's answer arrives.
        std::vector<char> block(512, 'w');
        auto write_done = std::make_shared<std::promise<Status>>();
        written = write_done->get_future();
        path->Submit(
            {CommandKind::kWrite, 8, 1, {{block.data(), block.size()}}, [write_done](Status s) {
                 write_done->set_value(std::move(s));
             }});
        const int answers = target.answered();
        answer.set_value();  // the target answers the check now
        while (target.answered() == answers && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(1ms);
        }
        std::this_thread::sleep_for(20ms);  // the answer is in the path's socket
    }
    ASSERT_EQ(written.wait_for(10s), std::future_status::ready);
    const Status write = written.get();
    EXPECT_TRUE(write.retryable()) << write.ToString();
    EXPECT_EQ(write.scope(), Scope::kPath) << write.ToString();
    Status check = check_done->get_future().get();
    EXPECT_EQ(check.scope(), Scope::kPath) << check.ToString();
    // The first connection is over once the path logged in again: the target read all it got.
    while (target.logins() < 2 && std::chrono::steady_clock::now() < until + 5s) {
        std::this_thread::sleep_for(5ms);
    }
    ASSERT_EQ(target.logins(), 2);
    EXPECT_EQ(RequestsWith(target, kWrite16).size(), 0u)
        << "the write reached the target after the session was condemned, and was failed back";
}

// libiscsi calls a timed-out or cancelled command back with its scsi_task (iscsi_scsi_response_cb
// hands the command's own task on, whatever the PDU callback got), and the path frees it then;
// under LeakSanitizer these two fail if a task of either kind were left behind.
FakeTarget::Handler SilentTo(uint8_t opcode, std::shared_ptr<std::atomic<bool>> armed) {
    return [opcode, armed](const ScsiRequest& r) {
        if (r.opcode() == opcode && *armed) {
            ScsiReply silent;
            silent.silent = true;
            return silent;
        }
        return FakeTarget::DiskAnswer(r);
    };
}

TEST(IscsiPathTest, ACommandThatTimesOutCompletesAsARetryablePathFailure) {
    auto armed = std::make_shared<std::atomic<bool>>(false);
    FakeTarget target(SilentTo(kRead16, armed));
    IscsiPathOptions options = Options(target);
    options.command_timeout_s = 1;
    Result<std::shared_ptr<IscsiPath>> path = IscsiPath::Open(options);
    ASSERT_TRUE(path.ok()) << path.status().ToString();
    *armed = true;
    std::vector<char> block(512);
    Status s = RunCommand(*path.value(), {CommandKind::kRead, 0, 1, {{block.data(), 512}}, {}});
    EXPECT_EQ(s.code(), ETIMEDOUT) << s.ToString();
    EXPECT_TRUE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kPath);
}

TEST(IscsiPathTest, ACommandInFlightWhenThePathIsResetCompletesAsARetryablePathFailure) {
    auto armed = std::make_shared<std::atomic<bool>>(false);
    FakeTarget target(SilentTo(kWrite16, armed));
    std::shared_ptr<IscsiPath> path = OpenPath(target);
    ASSERT_TRUE(path);
    *armed = true;
    std::vector<char> block(512, 'c');
    auto done = std::make_shared<std::promise<Status>>();
    std::future<Status> result = done->get_future();
    path->Submit({CommandKind::kWrite, 0, 1, {{block.data(), block.size()}}, [done](Status s) {
                      done->set_value(std::move(s));
                  }});
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (RequestsWith(target, kWrite16).empty() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(1ms);
    }
    path->Reset("reset by the test");
    ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
    Status s = result.get();
    EXPECT_TRUE(s.retryable()) << s.ToString();
    EXPECT_EQ(s.scope(), Scope::kPath);
}

}  // namespace
}  // namespace lunfs
