// Readahead: finds sequential streams among a LUN's reads and says what to load ahead of them.
//
// Pure and single-threaded (the cache calls it under its own lock). It remembers a few streams;
// a read that starts where a stream's last read ended (or a little before or after it, as reads
// of one stream issued side by side arrive out of order) continues that stream, any other read
// starts a new one in place of the least recently used. A read that does not reach past the
// stream's furthest read (a re-read, or a read overtaken by a later one) changes nothing. Once a
// stream's second read follows its first (starting within a read's length of its end), the window
// of bytes to keep loaded ahead of it starts at `min_window` (at least four reads' worth) and
// doubles with every read that finds the window half consumed, up to `max_window`; so a stream read
// one request at a time keeps every path busy while its reader is between requests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lunfs {

struct ReadaheadOptions {
    uint64_t min_window = 1 << 20;   // bytes ahead at a stream's start (0 disables readahead)
    uint64_t max_window = 16 << 20;  // bytes ahead at most
    size_t streams = 8;              // streams followed at once
};

// A byte range to load: [begin, end).
struct ByteRange {
    uint64_t begin = 0;
    uint64_t end = 0;
    bool empty() const { return end <= begin; }
    friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

class Readahead {
  public:
    explicit Readahead(ReadaheadOptions options) : options_(options) {}

    // A read of [offset, offset + length) arrived; `limit` is the device's capacity. Returns the
    // range to load now (empty when nothing is due): it starts where the stream's loads ended.
    ByteRange OnRead(uint64_t offset, uint64_t length, uint64_t limit);

    // Stops loading ahead over [begin, end) (a write changed it, or a load failed): streams
    // whose loaded range reaches into it load it again when they get there.
    void Forget(uint64_t begin, uint64_t end);

    // Each stream's current window, most recent first (for statistics and tests).
    std::vector<uint64_t> Windows() const;

  private:
    struct Stream {
        uint64_t next = 0;         // where its next read should start
        uint64_t loaded_end = 0;   // loads asked for up to here
        uint64_t window = 0;       // 0 until its second read
        uint64_t last_length = 0;  // size of its last read
        uint64_t used = 0;         // recency: higher is more recent
    };

    Stream* Find(uint64_t offset);

    ReadaheadOptions options_;
    std::vector<Stream> streams_;
    uint64_t clock_ = 0;
};

}  // namespace lunfs
