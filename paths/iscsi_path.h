// IscsiPath: one iSCSI session to one portal, owned by one thread.
//
// Threading contract: the libiscsi context and the session state are guarded by ctx_mu_, which
// the path's own thread holds at all times except while it waits in poll(). Other threads
// Submit() commands into a mutex-guarded queue and wake the thread through an eventfd; a command
// marked send_from_submitter is instead sent by the submitting thread itself when it gets
// ctx_mu_ at once and the session is up with nothing queued (one thread hop less per request).
// The thread polls the session socket and the eventfd, and calls iscsi_service(ctx, 0) at least
// once a second so that command timeouts fire. Command callbacks always run on the path's thread
// (a completion that happens while a submitter holds the context is handed to it) and must only
// do short, non-blocking work (complete a parent, queue more commands).
//
// Failure contract: libiscsi's own reconnect is always off, because it would re-send old
// commands on a new session behind lunfs's back. When the connection fails, a command times out
// or Reset() is called, the socket is closed with SO_LINGER 0 (the kernel drops whatever it still
// held to send and answers the target with RST) and the context destroyed; every command in
// flight or queued then completes with a retryable kPath-scope status and the path is kDown. A
// kPath-scope failure of a command before that (its timeout) is delivered only after it.
// After a backoff it logs in again with the same ISID (a target that performs reinstatement then
// closes the old session; tgtd does not, see engine/multipath_device.h rule 5 for what does);
// the LUN must show the same identity as before.
//
// Health: while the path is up and idle (nothing in flight), a TEST UNIT READY every
// health_interval with its own short timeout finds a dead path that no I/O would reveal. A busy
// path is judged by its commands' own completions and timeouts instead, so a check never waits
// behind data. But a busy path that has sent nothing lately (reads whose commands the target
// already acknowledged, waiting for their data) would leave TCP nothing to time out: when
// nothing was issued or completed for quiet_probe, a NOP-Out goes out, and only whether TCP gets
// it acknowledged matters (unacked_timeout), never how long its answer takes.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/status.h"
#include "paths/iscsi_url.h"
#include "paths/path_io.h"
#include "paths/reservation.h"

struct iscsi_context;
struct scsi_task;

namespace lunfs {

struct IscsiPathOptions {
    IscsiUrl url;
    std::string initiator_name = "iqn.2026-11.io.lunfs:initiator";
    std::string chap_secret;  // used when url.user is set; never logged or shown
    // Mutual CHAP (with url.user): the name the target must answer with and the secret it must
    // prove; never logged or shown. Empty for one-way CHAP.
    std::string chap_target_user;
    std::string chap_target_secret;
    int login_timeout_s = 15;    // TCP connect, login and the first probe commands
    int relogin_timeout_s = 5;   // the same when logging in again after a failure
    int command_timeout_s = 30;  // each SCSI command once logged in
    uint32_t queue_depth = 64;   // commands in flight on the session at most
    // A connection whose sent bytes stay unacknowledged this long is dead (TCP_USER_TIMEOUT): a
    // black-holed or frozen path fails in about this time, whatever its commands' timeouts.
    int unacked_timeout_ms = 500;
    // A busy path with nothing issued or completed for this long sends a NOP-Out (see Health).
    std::chrono::milliseconds quiet_probe{200};
    std::chrono::milliseconds health_interval{1000};  // idle check period
    int health_timeout_s = 3;                         // a check's own timeout
    std::chrono::milliseconds reconnect_min{250};     // first backoff after a failure
    std::chrono::milliseconds reconnect_max{8000};    // backoff doubles up to this
    // Set: every login registers a fresh key from it before anything else (see
    // UseReservationKeys for a path opened without).
    std::shared_ptr<ReservationKeys> reservation_keys;
    // Added to the URL in the path's name (logs, status): what tells a session that is not one of
    // the LUN's data paths apart, such as a fence's control session.
    std::string name_suffix;
};

class IscsiPath final : public PathIo {
  public:
    // Connects, logs in, registers (with reservation_keys), and reads INQUIRY (standard, VPD 0x80,
    // 0x83, 0xB0, 0xB2), READ CAPACITY(16) and MODE SENSE(10) of the caching page (a target that
    // refuses it leaves LunInfo's strict write_cache/fua defaults). Returns a path in state kUp, or
    // one line saying why there is none.
    static Result<std::shared_ptr<IscsiPath>> Open(IscsiPathOptions options);

    // Logs out and fails whatever is still queued. Must not run on the path's own thread.
    ~IscsiPath() override;

    void Submit(PathCommand command) override;
    PathState state() const override { return state_.load(); }
    const LunInfo& info() const override { return info_; }
    const std::string& name() const override { return name_; }
    const IscsiUrl& url() const { return options_.url; }
    const PathCounters& counters() const override { return counters_; }
    void SetStateListener(StateListener listener) override;
    void Reset(std::string reason) override;
    uint64_t ReservationKey() const override { return key_.load(); }

    // From now on every login registers a fresh key from `keys` (REGISTER AND IGNORE EXISTING
    // KEY) before the path goes up, and a session that ends retires its key. The session that is
    // up now registers one at once (replacing the key it had on its nexus); `done` runs on the
    // path's thread when it has, or at once when no session is up (the next login registers).
    // Thread-safe; a later call replaces the keys (`lunfs reservation register`), one at a time.
    void UseReservationKeys(std::shared_ptr<ReservationKeys> keys,
                            std::function<void(Status)> done);

  private:
    struct Task;

    explicit IscsiPath(IscsiPathOptions options);

    // Everything below runs on the path's thread.
    void Run();
    bool StartLogin();
    void SetState(PathState state);
    void CheckHealth(std::chrono::steady_clock::time_point now);
    static void OnLoggedIn(iscsi_context* ctx, int status, void* data, void* self);
    // Sends probe step `step`; a VPD page is read with `allocation` bytes at most.
    void SendProbe(int step, int allocation = 255);
    static void OnProbeDone(iscsi_context* ctx, int status, void* data, void* self);
    void ProbeDone(int status, scsi_task* task);
    Status TakeProbeAnswer(int step, Bytes answer);
    void LogOut(std::unique_lock<std::mutex>& ctx_lock);
    // Services the session, letting ctx_mu_ go while it waits, until `done()`, `until`, or a
    // failure: the waits of closing a session (logout, unregistering a host key).
    void ServiceUntil(std::unique_lock<std::mutex>& ctx_lock, const std::function<bool()>& done,
                      std::chrono::steady_clock::time_point until);
    void Unregister(std::unique_lock<std::mutex>& ctx_lock);
    static void OnUnregistered(iscsi_context* ctx, int status, void* data, void* self);
    static void OnLoggedOut(iscsi_context* ctx, int status, void* data, void* self);
    void IssuePending();
    void Issue(PathCommand command);
    int Service(short revents);  // iscsi_service, with the socket corked around a batch of sends
    // Sends `command` on the submitting thread if it can (see the threading contract).
    bool SendFromSubmitter(PathCommand& command);
    // Calls `done` now, or keeps it for DeliverDeferred(): on a submitting thread, and for a
    // failure that condemns the session (which it also records with Fail()), until the session
    // is torn down.
    void Deliver(std::function<void(Status)>& done, Status status);
    void DeliverDeferred();
    void Wake();
    static void OnCommandDone(iscsi_context* ctx, int status, void* data, void* task);
    static void OnLunResetDone(iscsi_context* ctx, int status, void* data, void* task);
    // Claims a key, publishes it as key_ and sends REGISTER AND IGNORE EXISTING KEY for it;
    // `done` gets the answer. False when the command could not be queued.
    scsi_task* SendRegister(void (*cb)(iscsi_context*, int, void*, void*), void* private_data);
    void RegisterNow(std::function<void(Status)> done);
    void CommandDone(int status, scsi_task* st, PathCommand& command);
    // Runs `body` (a callback's work) so that no exception leaves it: one that does is logged and
    // fails the path. Every callback from libiscsi and every `done` the path calls go through it.
    template <typename Body>
    void Guarded(const char* where, Body&& body) noexcept;
    void Fail(Status status);
    void HandleFailure();
    void TearDown();
    void FailQueued(const Status& status);
    void OpenFinished(Status status);

    const IscsiPathOptions options_;
    const std::string name_;
    LunInfo info_;  // written by the path's thread before Open() returns; fixed after
    PathCounters counters_;
    std::atomic<PathState> state_{PathState::kConnecting};

    int wake_fd_ = -1;
    std::thread thread_;

    std::mutex mu_;
    std::deque<PathCommand> submitted_;  // guarded by mu_
    bool stop_ = false;                  // guarded by mu_
    // Guarded by mu_: the path's thread is in (or about to enter) poll() with nothing submitted,
    // so a submission must wake it; while it runs, it picks submissions up by itself.
    bool sleeping_ = false;
    std::optional<Status> open_result_;  // guarded by mu_
    std::optional<std::string> reset_;   // guarded by mu_: Reset() asked for it
    StateListener listener_;             // guarded by mu_
    std::condition_variable open_cv_;
    // Guarded by mu_: UseReservationKeys() asked for them, for the path's thread to take.
    std::shared_ptr<ReservationKeys> new_keys_;
    std::function<void(Status)> new_keys_done_;

    // Guards everything below. The path's thread holds it except while it waits in poll().
    std::mutex ctx_mu_;
    // Completions that happened on a submitting thread, for the path's thread to deliver.
    std::vector<std::pair<std::function<void(Status)>, Status>> deferred_;
    std::string portal_;  // numeric host:port
    uint32_t isid_ = 0;   // the same for every login, so the target reinstates the session
    iscsi_context* ctx_ = nullptr;
    bool opened_ = false;   // Open() succeeded; failures from now on are followed by reconnects
    std::string identity_;  // the LUN's identity at the first login
    std::chrono::milliseconds backoff_{0};
    std::chrono::steady_clock::time_point reconnect_at_;
    std::chrono::steady_clock::time_point last_activity_;  // last command issued or completed
    bool health_check_in_flight_ = false;
    std::chrono::steady_clock::time_point last_nop_;  // last NOP-Out sent on a quiet busy path
    // When a busy path sends its next NOP-Out unless it issues or completes something first.
    std::chrono::steady_clock::time_point NopDue() const {
        return std::max(last_activity_, last_nop_) + options_.quiet_probe;
    }
    std::deque<PathCommand> pending_;
    std::vector<uint8_t> zero_block_;  // the data of WRITE SAME commands
    uint32_t in_flight_ = 0;
    // Queued by our commands since the last POLLOUT service: socket writes, and bytes of data
    // sent to the target.
    uint32_t unsent_writes_ = 0;
    uint64_t unsent_data_ = 0;
    static constexpr uint64_t kCorkBytes = 64 * 1024;
    // Set by callbacks; acted on after iscsi_service(), which is never called again on the
    // context before it has been torn down.
    std::optional<Status> failure_;
    using ScsiTaskPtr = std::unique_ptr<scsi_task, void (*)(scsi_task*)>;
    // Tasks that completed after failure_ was recorded: freed only once the context is gone.
    std::vector<ScsiTaskPtr> held_tasks_;
    bool logout_done_ = false;               // LogOut()'s logout was called back
    bool tearing_down_ = false;              // inside iscsi_destroy_context()
    std::shared_ptr<ReservationKeys> keys_;  // registers a key at every login when set
    // The keys key_ came from (keys_ may be replaced by UseReservationKeys since).
    std::shared_ptr<ReservationKeys> old_keys_;
    int unregister_answer_ = -1;        // Unregister()'s command's status; -1 while unanswered
    std::atomic<uint64_t> key_{0};      // the current session's; written by the thread
    bool lun_reset_in_flight_ = false;  // later commands wait for its answer
    int probe_step_ = 0;
    int probe_allocation_ = 0;  // the allocation length of the probe's VPD INQUIRY
    std::chrono::steady_clock::time_point login_deadline_;
};

}  // namespace lunfs
