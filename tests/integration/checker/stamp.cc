#include "tests/integration/checker/stamp.h"

#include <cstring>

namespace lunfs::check {

namespace {

constexpr uint64_t kMagic = 0x6b6365686373666eull;  // "nfscheck"

// Header layout: magic, block, writer (as u64), gen, run, checksum; the body follows.
constexpr size_t kFields = 6;
constexpr size_t kHeader = kFields * sizeof(uint64_t);

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t Checksum(const Stamp& s) {
    return Mix(Mix(Mix(Mix(kMagic ^ s.block) ^ s.writer) ^ s.gen) ^ s.run);
}

void Body(const Stamp& s, char* out) {
    uint64_t x = Checksum(s);
    for (size_t at = kHeader; at < kBlock; at += sizeof(x)) {
        x = Mix(x);
        std::memcpy(out + at, &x, sizeof(x));
    }
}

}  // namespace

void Encode(const Stamp& s, char* out) {
    const uint64_t fields[kFields] = {kMagic, s.block, s.writer, s.gen, s.run, Checksum(s)};
    std::memcpy(out, fields, kHeader);
    Body(s, out);
}

Decoded Decode(const char* in) {
    Decoded d;
    uint64_t fields[kFields];
    std::memcpy(fields, in, kHeader);
    if (fields[0] != kMagic) {
        static const char kZero[kBlock] = {};
        d.found = std::memcmp(in, kZero, kBlock) == 0 ? Found::kZeros : Found::kGarbage;
        return d;
    }
    d.stamp = {fields[1], static_cast<uint32_t>(fields[2]), fields[3], fields[4]};
    if (fields[2] > UINT32_MAX || fields[5] != Checksum(d.stamp)) return d;
    char expected[kBlock];
    Body(d.stamp, expected);
    d.found = std::memcmp(in + kHeader, expected + kHeader, kBlock - kHeader) == 0 ? Found::kStamp
                                                                                   : Found::kTorn;
    return d;
}

Blend Provenance(const char* in, const Stamp& a, const Stamp& b) {
    char va[kBlock], vb[kBlock];
    Encode(a, va);
    Encode(b, vb);
    Blend out;
    bool seen_a = false, seen_b = false, seen_neither = false;
    size_t run_start = 0;
    const char* run_name = nullptr;
    auto close_run = [&](size_t end) {
        if (!run_name) return;
        out.parts += (out.parts.empty() ? "bytes " : ", ") + std::to_string(run_start) + "-" +
                     std::to_string(end - 1) + " of " + run_name;
    };
    const std::string name_a = "gen " + std::to_string(a.gen);
    const std::string name_b = "gen " + std::to_string(b.gen);
    for (size_t at = 0; at < kBlock; at += sizeof(uint64_t)) {
        const char* name = "neither";
        if (std::memcmp(in + at, va + at, sizeof(uint64_t)) == 0) {
            name = name_a.c_str();
            seen_a = true;
        } else if (std::memcmp(in + at, vb + at, sizeof(uint64_t)) == 0) {
            name = name_b.c_str();
            seen_b = true;
        } else {
            seen_neither = true;
        }
        if (name != run_name) {
            close_run(at);
            run_start = at;
            run_name = name;
        }
    }
    close_run(kBlock);
    out.both = seen_a && seen_b && !seen_neither;
    return out;
}

const char* Name(Found f) {
    switch (f) {
        case Found::kStamp:
            return "stamp";
        case Found::kZeros:
            return "zeros";
        case Found::kGarbage:
            return "garbage";
        case Found::kTorn:
            return "torn";
    }
    return "?";
}

std::string Describe(const Decoded& d) {
    std::string s = Name(d.found);
    if (d.found == Found::kStamp || d.found == Found::kTorn) {
        s += " (block " + std::to_string(d.stamp.block) + ", writer " +
             std::to_string(d.stamp.writer) + ", gen " + std::to_string(d.stamp.gen) + ", run " +
             std::to_string(d.stamp.run) + ")";
    }
    return s;
}

}  // namespace lunfs::check
