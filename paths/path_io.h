// PathIo: what the engine sees of one path to a LUN, whatever carries it. The iSCSI
// implementation is IscsiPath (paths/iscsi_path.h); engine tests use fakes.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "paths/scsi_pages.h"

namespace lunfs {

// What a path learned about its LUN when it logged in.
struct LunInfo {
    StandardInquiry inquiry;
    std::string serial;
    std::vector<Designator> designators;
    std::string identity;  // LunIdentity(designators, serial)
    BlockLimits limits;
    Capacity capacity;
    Provisioning provisioning;  // VPD 0xB2, read when the LUN is thin (LBPME)
    // MODE SENSE: whether the LUN has a volatile write cache that is on (caching mode page,
    // WCE), and whether it honours FUA on writes (DPOFUA in the mode parameter header). When
    // the target does not answer MODE SENSE, the strict guess: a write cache, and no FUA.
    bool write_cache = true;
    bool fua = false;
};

enum class CommandKind : uint8_t {
    kRead,            // READ(16)
    kWrite,           // WRITE(16)
    kSyncCache,       // SYNCHRONIZE CACHE(16) of the whole LUN
    kTestUnitReady,   // TEST UNIT READY
    kUnmap,           // UNMAP of the blocks
    kWriteSameUnmap,  // WRITE SAME(16) of zeros over the blocks, with the UNMAP bit
    // PERSISTENT RESERVE IN (`reservation.action`: READ KEYS, READ RESERVATION, REPORT
    // CAPABILITIES); the answer lands in `iov` (at most 64 KiB).
    kReserveIn,
    // PERSISTENT RESERVE OUT, scope LU: `reservation` says which service action, type and keys.
    kReserveOut,
    // LOGICAL UNIT RESET task management function. The path sends it only when nothing else is
    // in flight on its session, and holds later commands until it is answered: a target aborts
    // queued commands of every session of the LUN, and answers only once its backend finished
    // what it had started.
    kLunReset,
};

const char* CommandKindName(CommandKind kind);

struct PathCommand {
    CommandKind kind = CommandKind::kRead;
    uint64_t lba = 0;
    uint32_t blocks = 0;
    std::vector<iovec> iov;  // blocks * block size bytes for reads and writes; caller-owned;
                             // empty for the others
    std::function<void(Status)> done;  // exactly once, on the path's thread
    // The submitting thread may send the command itself when the path is idle enough, instead of
    // waking the path's thread for it: saves a thread hop per request. Set it on the last
    // command a thread submits in a row, so that the paths woken for the others start first.
    bool send_from_submitter = false;
    // kWrite: Force Unit Access, the data is on stable storage before the target answers GOOD.
    // Only set where LunInfo::fua says the LUN honours it.
    bool fua = false;
    // kReserveIn / kReserveOut (SPC-4 6.15, 6.16).
    struct Reservation {
        uint8_t action = 0;   // service action
        uint8_t type = 0;     // reservation type (RESERVE, RELEASE, PREEMPT)
        uint64_t key = 0;     // RESERVATION KEY: the sender's own registered key
        uint64_t sa_key = 0;  // SERVICE ACTION RESERVATION KEY
    } reservation{};
};

enum class PathState : uint8_t {
    kConnecting,  // logging in (first time or again)
    kUp,          // takes commands
    kDown,        // the session failed; commands fail at once with a kPath-scope status, and
                  // the path logs in again by itself after a backoff
    kClosed,      // shut down for good
};

const char* PathStateName(PathState state);

// Counters a path keeps; read from any thread.
struct PathCounters {
    std::atomic<uint64_t> reads{0};
    std::atomic<uint64_t> writes{0};
    std::atomic<uint64_t> bytes_read{0};
    std::atomic<uint64_t> bytes_written{0};
    std::atomic<uint64_t> syncs{0};     // SYNCHRONIZE CACHE commands that completed GOOD
    std::atomic<uint64_t> discards{0};  // UNMAP and WRITE SAME commands that completed GOOD
    std::atomic<uint64_t> failures{0};  // commands that completed with an error
    std::atomic<uint64_t> in_flight{0};
};

class PathIo {
  public:
    virtual ~PathIo() = default;

    // Queues (or sends) a command. Thread-safe; `done` runs on the path's own thread, never
    // inside Submit.
    virtual void Submit(PathCommand command) = 0;

    virtual PathState state() const = 0;
    virtual const LunInfo& info() const = 0;      // fixed once the path is open
    virtual const std::string& name() const = 0;  // for logs and status: the portal URL
    virtual const PathCounters& counters() const = 0;

    // Called on the path's thread after each change of state(); short, non-blocking work only.
    // Set it before the path is used; it must outlive the path or be reset to nullptr first.
    using StateListener = std::function<void(PathState)>;
    virtual void SetStateListener(StateListener listener) = 0;

    // Tears the session down now, as if it had failed: every command in flight completes with a
    // retryable kPath-scope status, and by the time those callbacks run no byte of them is left
    // to leave this host. The path then logs in again after its backoff. Thread-safe.
    virtual void Reset(std::string reason) = 0;

    // The persistent reservation key this path's current session registered (or is registering)
    // with the LUN; 0 when it registers none or has no session. A session that failed keeps its
    // registration on the target until someone preempts it (paths/reservation.h). Thread-safe.
    virtual uint64_t ReservationKey() const { return 0; }
};

}  // namespace lunfs
