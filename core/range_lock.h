// RangeLock: asynchronous, first-come-first-served exclusion over byte ranges.
//
// Writes that overlap are granted in the order they asked; writes that do not overlap run
// together. Nobody blocks: Acquire() hands over a callback that runs when the range is free (at
// once, inside Acquire(), when nothing earlier overlaps). Thread-safe; callbacks run with no
// internal lock held, on the thread that called Acquire() or Release().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace lunfs {

class RangeLock {
  public:
    using Ticket = uint64_t;

    using Granted = std::function<void(Ticket)>;

    // Asks for [begin, end); `granted` runs, with the ticket to release, once no earlier holder or
    // waiter overlaps it.
    void Acquire(uint64_t begin, uint64_t end, Granted granted);

    // Gives the range back and grants the waiters that became free.
    void Release(Ticket ticket);

    size_t Held() const;     // granted and not yet released
    size_t Waiting() const;  // asked and not yet granted

  private:
    struct Entry {
        uint64_t begin;
        uint64_t end;
        bool granted;
        Granted on_grant;
    };
    // True when an entry before `it` overlaps it. Requires mu_.
    bool BlockedByEarlier(std::map<Ticket, Entry>::const_iterator it) const;

    mutable std::mutex mu_;
    Ticket next_ = 1;                  // guarded by mu_
    std::map<Ticket, Entry> entries_;  // in arrival order; guarded by mu_
};

}  // namespace lunfs
