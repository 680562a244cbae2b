// The stamp every 512-byte block the consistency checker writes carries: which block it is, which
// writer wrote it, the write's generation and the checker run, a checksum of those, and a body
// derived from all of them, so that a block read back tells exactly which write it came from, or
// that it came from none (zeros, garbage, another block, a torn mix of two writes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lunfs::check {

inline constexpr size_t kBlock = 512;

struct Stamp {
    uint64_t block = 0;  // the block's number in the file (its byte offset / 512)
    uint32_t writer = 0;
    uint64_t gen = 0;  // unique over the run: one per write
    uint64_t run = 0;  // the checker run that wrote it
};

// What a block read back holds.
enum class Found {
    kStamp,    // a whole, valid stamp (see Decoded::stamp)
    kZeros,    // never written
    kGarbage,  // no magic, or the stamp's checksum fails
    kTorn,     // a valid stamp whose body is not the one it implies
};

struct Decoded {
    Found found = Found::kGarbage;
    Stamp stamp;
};

// Fills `out` (kBlock bytes) with `s`.
void Encode(const Stamp& s, char* out);
// Reads the block at `in` (kBlock bytes).
Decoded Decode(const char* in);

// Where the parts of the block at `in` come from, given two versions of it (8-byte words): both
// is set when every word is one of the two and each shows up; parts reads "bytes 0-255 of gen 7,
// 256-511 of gen 9" (or "of neither").
struct Blend {
    bool both = false;
    std::string parts;
};
Blend Provenance(const char* in, const Stamp& a, const Stamp& b);

const char* Name(Found f);
std::string Describe(const Decoded& d);  // "writer 3 gen 1234", "zeros", ...

}  // namespace lunfs::check
