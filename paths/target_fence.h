// TargetFence: the Fencer (paths/fencer.h) that has an iSCSI target confirm each fence.
//
// At mount it reads the LUN's reservation state on a control session of its own (a session that
// carries no I/O) and picks the strongest fence the LUN allows without disturbing anyone:
//   - reservation: the LUN supports Write Exclusive – Registrants Only and carries no
//     registration or reservation of another initiator (keys of a lunfs of this host whose
//     process is gone are leftovers, and removed). The control session and every data path
//     register keys of their own (paths/reservation.h) and the control session reserves. A
//     fence reads the registered keys, PREEMPTs every key of this process whose session is no
//     longer live (the target then refuses whatever those sessions still send), makes sure the
//     reservation still exists, and sends a LOGICAL UNIT RESET, which tgtd answers once its
//     backend finished what it had started (docs/fencing-research.md).
//   - reset: LOGICAL UNIT RESET alone (the LUN has no persistent reservations, or it was asked
//     for): what the target holds is drained, not what is still on its way to it.
//   - timed: the LUN carries another initiator's registrations (a cluster fencing with SCSI-3
//     reservations): lunfs disturbs none of it, and falls back to the engine's timer.
// `auto` picks in that order; asking for a mode the LUN cannot give fails the mount. A
// reservation taken by another initiator later drops the mode to timed, logged once.
//
// At close, in reservation mode, it removes every registration of this process and releases
// the reservation, leaving the LUN as it found it.
//
// A cluster's host key (`lunfs reservation`, tools/reservation_command.h): RegisterHostKey puts
// one key of the user's on every data path of the LUN (and on every later login of any path),
// as mpathpersist does for dm-multipath. A nexus holds one key, so lunfs's own reservation fence
// cannot run beside it: the fence drops to timed for good (before the paths re-register), and
// lunfs removes what it had on the LUN (its reservation, the control session's and failed
// sessions' keys). The other reservation commands are sent with the host key on the data paths.
//
// Threads: fences run one at a time on the fence's own thread, which blocks on the control
// session's commands; Fence() only queues. The control session is reopened, on a portal whose
// data path is up, when it fails.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "paths/fencer.h"
#include "paths/iscsi_path.h"
#include "paths/reservation.h"

namespace lunfs {

enum class FenceRequest { kAuto, kReservation, kReset, kTimed };

// "auto", "reservation", "reset", "timed".
Result<FenceRequest> ParseFenceRequest(std::string_view text);

class TargetFence final : public Fencer {
  public:
    struct Options {
        FenceRequest request = FenceRequest::kAuto;
        // The control session logs in like the data paths (CHAP, timeouts), to the portal of one
        // of them; its url is replaced by that path's.
        IscsiPathOptions control;
        std::shared_ptr<ReservationKeys> keys;  // required for the reservation mode
        // Other hosts write to the LUN too (a cluster file system): auto does not reserve it,
        // which would lock them out.
        bool shared_lun = false;
    };

    // Picks the mode for the LUN that `paths` (open, of one LUN) reach, and in reservation mode
    // registers them all. An error says why the mode asked for is not possible.
    static Result<std::shared_ptr<TargetFence>> Open(
        Options options, const std::vector<std::shared_ptr<IscsiPath>>& paths);

    ~TargetFence() override;

    void Fence(std::function<void(Status)> done) override;
    void Cancel() override;
    FenceMode mode() const override { return mode_.load(); }
    std::string why() const override;

    // What a path that joins the LUN later logs in with (IscsiPathOptions::reservation_keys):
    // the keys in reservation mode, else none.
    std::shared_ptr<ReservationKeys> KeysForNewPaths() const;
    // A path that joins the LUN later, opened with KeysForNewPaths(): its portal becomes a place
    // for the control session.
    void Adopt(const std::shared_ptr<IscsiPath>& path);

    // `lunfs reservation register KEY`: drops the fence to timed, registers `key` on every data
    // path (REGISTER AND IGNORE EXISTING KEY, replacing lunfs's own key on that nexus) and has
    // every later login register it; then removes lunfs's own reservation and keys. `key` 0
    // removes the host key from every path (and later logins register nothing). A path that is
    // down registers when it logs in again. Blocks for the commands' answers.
    Status RegisterHostKey(uint64_t key);
    // PERSISTENT RESERVE OUT `action` (RESERVE, RELEASE, PREEMPT, CLEAR) with the host key as
    // reservation key, sent on one data path that is up and registered (RELEASE: on every one,
    // see the .cc). ENOKEY when no host key is registered.
    Status HostReserveOut(uint8_t action, uint8_t type, uint64_t sa_key);
    // The LUN's registered keys and reservation as the target reports them, as lines, marking
    // this host's key and lunfs's own fence keys.
    Result<std::string> ShowReservations();
    uint64_t host_key() const;  // 0: none registered

  private:
    explicit TargetFence(Options options);

    Status Setup(const std::vector<std::shared_ptr<IscsiPath>>& paths);
    void SetMode(FenceMode mode, std::string why);
    // The control session, reopened on a portal of an up path when it is not up.
    Result<std::shared_ptr<IscsiPath>> Control();
    void Retire();  // lets the control session go, closed on a thread of its own
    // One command on `path`, waited for at most `limit` (and, when `cancellable`, until
    // Cancel()); a UNIT ATTENTION (a reset's, a preemption's) is answered by sending it again.
    Status Call(PathIo& path, PathCommand command);
    Status Call(PathIo& path, PathCommand command, std::chrono::milliseconds limit,
                bool cancellable);
    // Sends what `send` sends, handing it the callback for its answer, and waits for the answer
    // as Call does (a UNIT ATTENTION sends it again); none within `limit` (or, `cancellable`,
    // before Cancel()): nullopt.
    std::optional<Status> Await(const std::function<void(std::function<void(Status)>)>& send,
                                std::chrono::milliseconds limit, bool cancellable);
    // PERSISTENT RESERVE IN `action` on `path`, its answer in `answer`.
    Status ReserveIn(PathIo& path, uint8_t action, std::vector<uint8_t>& answer);
    Result<RegisteredKeys> ReadKeys(PathIo& path);
    Result<std::optional<ReservationHolder>> ReadReservation(PathIo& path);
    Status ReserveOut(PathIo& path, uint8_t action, uint8_t type, uint64_t sa_key);
    Status Register(IscsiPath& path);
    Status Register(IscsiPath& path, const std::shared_ptr<ReservationKeys>& keys);
    std::vector<std::shared_ptr<IscsiPath>> DataPaths() const;
    // Gives every data path `keys` (a host key's); the first failure, after trying them all.
    Status RegisterAll(const std::shared_ptr<ReservationKeys>& keys);
    // A key of lunfs on this host whose process is gone.
    bool Leftover(uint64_t key) const;
    // Preempts every key of this process whose session is not live and every leftover, and
    // makes sure the control session's reservation exists.
    Status Clean(PathIo& control, bool closing);
    Status RunFence();
    void Run();
    void Close();

    const Options options_;
    std::atomic<FenceMode> mode_{FenceMode::kTimed};
    std::atomic<bool> cancelled_{false};
    // Closing: commands wait this long at most, cancelled or not.
    std::optional<std::chrono::milliseconds> closing_limit_;  // used on Close's thread

    mutable std::mutex mu_;
    std::string why_;                                  // guarded by mu_
    std::vector<std::weak_ptr<IscsiPath>> paths_;      // guarded by mu_
    std::deque<std::function<void(Status)>> waiting_;  // guarded by mu_
    bool stop_ = false;                                // guarded by mu_
    std::shared_ptr<ReservationKeys> host_keys_;       // guarded by mu_: host-key mode
    // Held by a fence and by the host-key commands: one at a time on the LUN's reservations.
    std::mutex work_mu_;
    std::condition_variable cv_;
    // Used on the fence's thread (and by Open and Close, before and after it).
    std::shared_ptr<IscsiPath> control_;
    std::vector<std::thread> closers_;  // closing control sessions that were let go
    std::thread thread_;
};

}  // namespace lunfs
