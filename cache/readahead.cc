#include "cache/readahead.h"

#include <algorithm>

namespace lunfs {

Readahead::Stream* Readahead::Find(uint64_t offset) {
    Stream* best = nullptr;
    uint64_t best_distance = 0;
    for (Stream& s : streams_) {
        // Reads of one stream in flight together arrive in any order: accept a few of the
        // stream's own reads around its head (and at least 128 KiB for small ones).
        const uint64_t slack = std::max<uint64_t>(4 * s.last_length, 128 << 10);
        const uint64_t lo = s.next > slack ? s.next - slack : 0;
        const uint64_t hi = std::max(s.next + slack, s.loaded_end);
        if (offset < lo || offset > hi) continue;
        const uint64_t distance = offset > s.next ? offset - s.next : s.next - offset;
        if (!best || distance < best_distance) {
            best = &s;
            best_distance = distance;
        }
    }
    return best;
}

ByteRange Readahead::OnRead(uint64_t offset, uint64_t length, uint64_t limit) {
    if (options_.min_window == 0 || options_.streams == 0 || length == 0) return {};
    ++clock_;
    const uint64_t end = offset + length;
    Stream* s = Find(offset);
    if (!s) {
        const Stream fresh{end, end, 0, length, clock_};
        if (streams_.size() < options_.streams) {
            streams_.push_back(fresh);
        } else {
            *std::min_element(streams_.begin(), streams_.end(),
                              [](const Stream& a, const Stream& b) { return a.used < b.used; }) =
                fresh;
        }
        return {};
    }
    s->used = clock_;
    if (end <= s->next) return {};  // behind the stream's head: a re-read, or one overtaken
    // A stream starts loading ahead only when its second read follows the first closely: reads
    // landing near one by chance (random ones) do not make it a stream.
    if (s->window == 0 && offset > s->next + std::max(length, s->last_length)) return {};
    s->next = end;
    s->last_length = length;
    s->loaded_end = std::max(s->loaded_end, s->next);
    const uint64_t ahead = s->loaded_end - s->next;
    if (s->window == 0) {
        s->window = std::min(std::max(options_.min_window, 4 * length), options_.max_window);
    } else if (ahead >= s->window / 2) {
        return {};
    } else {
        s->window = std::min(2 * s->window, options_.max_window);
    }
    const ByteRange due{s->loaded_end, std::min(limit, s->next + s->window)};
    if (due.empty()) return {};
    s->loaded_end = due.end;
    return due;
}

void Readahead::Forget(uint64_t begin, uint64_t end) {
    for (Stream& s : streams_) {
        if (begin < s.loaded_end && end > s.next) s.loaded_end = std::max(s.next, begin);
    }
}

std::vector<uint64_t> Readahead::Windows() const {
    std::vector<const Stream*> order;
    for (const Stream& s : streams_) order.push_back(&s);
    std::sort(order.begin(), order.end(),
              [](const Stream* a, const Stream* b) { return a->used > b->used; });
    std::vector<uint64_t> out;
    for (const Stream* s : order) out.push_back(s->window);
    return out;
}

}  // namespace lunfs
