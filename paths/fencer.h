// Fencer: how the engine has the target confirm that a failed session's commands can no longer
// change the LUN (docs/ghost-writes.md, rule 5).
//
// When a write (or discard) had an extent fail on a path, its first copy may still be on its way
// or held by the target. The engine re-sends the extent at once (the same data), but keeps the
// request's bytes locked against newer writes until the fence allows them:
//   - kReservation: the target confirmed it. Every session registered a key of its own; the
//     fencer preempted the keys of every session that failed (the target refuses whatever they
//     send from then on) and then sent a LOGICAL UNIT RESET from a session without I/O (answered
//     once the target's backend finished what it had started). Nothing else is waited for.
//   - kReset: the LOGICAL UNIT RESET only. It covers what the target holds, not bytes still below
//     the failed session's socket; for those the timed rule still applies as well.
//   - kTimed: no help from the target: the path logged in again (its login travelled behind
//     whatever it had queued) or fence_timeout passed. A command the target still holds beyond
//     that can land late.
#pragma once

#include <functional>
#include <string>

#include "core/status.h"

namespace lunfs {

enum class FenceMode { kTimed, kReset, kReservation };

const char* FenceModeName(FenceMode mode);

class Fencer {
  public:
    virtual ~Fencer() = default;

    // Makes the target guarantee that no command sent on a session of this LUN that failed
    // before this call can still execute, and calls `done` (once, on any thread, never inside
    // Fence) with the outcome. A failure is retried by the engine. Thread-safe.
    virtual void Fence(std::function<void(Status)> done) = 0;

    // Shutting down: a fence in progress stops waiting for the target and is answered, not
    // confirmed, soon; later ones too. Thread-safe.
    virtual void Cancel() {}

    // What a completed Fence() guarantees; may drop to kTimed at run time (a reservation taken by
    // another initiator), never rise. Thread-safe.
    virtual FenceMode mode() const = 0;
    // Why the mode is what it is, for the log and `status`.
    virtual std::string why() const = 0;
};

}  // namespace lunfs
