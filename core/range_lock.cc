#include "core/range_lock.h"

#include <utility>
#include <vector>

namespace lunfs {

namespace {
bool Overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1) { return a0 < b1 && b0 < a1; }
}  // namespace

bool RangeLock::BlockedByEarlier(std::map<Ticket, Entry>::const_iterator it) const {
    for (auto e = entries_.begin(); e != it; ++e) {
        if (Overlaps(e->second.begin, e->second.end, it->second.begin, it->second.end)) {
            return true;
        }
    }
    return false;
}

void RangeLock::Acquire(uint64_t begin, uint64_t end, Granted granted) {
    Ticket ticket;
    bool now;
    {
        std::lock_guard lock(mu_);
        ticket = next_++;
        auto it = entries_.emplace(ticket, Entry{begin, end, false, nullptr}).first;
        now = !BlockedByEarlier(it);
        if (now) {
            it->second.granted = true;
        } else {
            it->second.on_grant = std::move(granted);
        }
    }
    if (now) granted(ticket);
}

void RangeLock::Release(Ticket ticket) {
    std::vector<std::pair<Ticket, Granted>> ready;
    {
        std::lock_guard lock(mu_);
        entries_.erase(ticket);
        for (auto it = entries_.begin(); it != entries_.end(); ++it) {
            if (it->second.granted || BlockedByEarlier(it)) continue;
            it->second.granted = true;
            ready.emplace_back(it->first, std::move(it->second.on_grant));
        }
    }
    for (auto& [t, grant] : ready) grant(t);
}

size_t RangeLock::Held() const {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& [ticket, e] : entries_) n += e.granted ? 1 : 0;
    return n;
}

size_t RangeLock::Waiting() const {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& [ticket, e] : entries_) n += e.granted ? 0 : 1;
    return n;
}

}  // namespace lunfs
