// What the consistency checker knows about every block it owns: the generation of the last write
// acknowledged to it (its floor) and the newest generation sent to it (issued). A read of the
// block may find any generation from the floor it had when the read started to what was issued
// by the time the read ended; once no write is in flight and none failed, only the floor. A write
// that fails leaves the floor where it was, so the block may hold either version until a later
// write is acknowledged. Every write is also kept as a record (who, where, when, outcome), so
// that a violation can say which writes it involves and when they ran.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace lunfs::check {

struct WriteRecord {
    uint64_t gen = 0;
    uint32_t writer = 0;
    uint32_t blocks = 0;
    uint64_t first_block = 0;
    int64_t sent_us = 0;  // wall clock, microseconds since the epoch
    int64_t done_us = 0;
    int32_t error = 0;      // 0 when acknowledged, else the errno (-1: short write)
    uint32_t buffered = 0;  // 1 when written through a handle without O_DIRECT
};

// Thread contract: each block has one writer thread, which alone calls Issue and Ack for it;
// Floor and Issued may be read from any thread. Log and Find may be called from any thread.
class Ledger {
  public:
    // Blocks [first_block, first_block + blocks) of the file; `owners` gives each one's writer.
    Ledger(uint64_t first_block, std::vector<uint32_t> owners, uint64_t run);

    uint64_t first_block() const { return first_; }
    uint64_t blocks() const { return owners_.size(); }
    uint64_t run() const { return run_; }
    bool Holds(uint64_t block) const { return block >= first_ && block - first_ < blocks(); }
    uint32_t Owner(uint64_t block) const { return owners_[block - first_]; }

    void Issue(uint64_t block, uint32_t n, uint64_t gen);  // before the write is sent
    void Ack(uint64_t block, uint32_t n, uint64_t gen);    // once it was acknowledged
    uint64_t Floor(uint64_t block) const;
    uint64_t Issued(uint64_t block) const;

    void Log(const WriteRecord& r);
    // The record of `gen`, if it was logged; after Seal (no more writes) in O(log n).
    std::optional<WriteRecord> Find(uint64_t gen) const;
    void Seal();
    size_t Writes() const;
    size_t FailedWrites() const;

    // The whole ledger, records included, in a file of its own format; Load returns null (and
    // says why in `error`) for a file it cannot read.
    bool Save(const std::string& path) const;
    static std::unique_ptr<Ledger> Load(const std::string& path, std::string& error);

  private:
    struct Block {
        std::atomic<uint64_t> floor{0};
        std::atomic<uint64_t> issued{0};
    };

    uint64_t first_;
    std::vector<uint32_t> owners_;
    uint64_t run_;
    std::unique_ptr<Block[]> state_;
    mutable std::mutex mu_;
    std::vector<WriteRecord> records_;  // guarded by mu_; sorted by gen once sealed
    bool sealed_ = false;               // guarded by mu_
};

}  // namespace lunfs::check
