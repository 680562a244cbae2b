// MemoryDevice: an in-memory BlockDevice for unit tests.
//
// Stores its bytes in a vector, checks every request the way a real device does
// (Alignment() == BlockSize(), EINVAL past the capacity) and records each one. By default a
// request completes inside Submit(). With HoldCompletions(true) it is queued instead, and the test
// releases queued requests one by one, in any order, with Complete(), CompleteNext() and
// CompleteAll(). A read copies the stored bytes and a write changes them when the request
// completes, not when it is submitted, so the interleaving a test chooses is the one the bytes see.
// Thread-safe; callbacks run with no internal lock held.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "core/block_device.h"

namespace lunfs::fakes {

class MemoryDevice final : public BlockDevice {
  public:
    // One request as the device received it.
    struct Record {
        IoOp op = IoOp::kRead;
        uint64_t offset = 0;
        uint64_t length = 0;
        friend bool operator==(const Record&, const Record&) = default;
    };

    // A device of `capacity` bytes, all zero.
    MemoryDevice(uint64_t capacity, uint32_t block_size);

    uint64_t Capacity() const override { return data_.size(); }
    uint32_t BlockSize() const override { return block_size_; }
    uint32_t Alignment() const override { return block_size_; }
    void Submit(IoRequest request) override;
    // Discards zero their range; a device made with SetDiscard(false) refuses them.
    bool CanDiscard() const override { return discard_; }
    void SetDiscard(bool on) { discard_ = on; }

    // While on, requests are queued instead of completed. Turning it off completes nothing.
    void HoldCompletions(bool hold);
    // The next request submitted completes with `status` and leaves the bytes alone.
    void FailNext(Status status);

    size_t Pending() const;                // requests queued and not yet completed
    Record PendingAt(size_t index) const;  // 0: the oldest queued request
    // Completes the queued request at `index`; false when there is none.
    bool Complete(size_t index);
    bool CompleteNext() { return Complete(0); }
    // Completes queued requests oldest first until none is left, including the ones that
    // completions submit meanwhile. Returns how many it completed.
    size_t CompleteAll();

    // Every request received, in order, completed or not.
    std::vector<Record> Requests() const;
    void ClearRequests();

    // Direct access to the stored bytes, bypassing requests and records.
    std::vector<uint8_t> Contents(uint64_t offset, uint64_t length) const;
    void Fill(uint64_t offset, const std::vector<uint8_t>& bytes);

  private:
    struct Queued {
        IoRequest request;
        Status status;  // what it completes with
    };
    // Applies `queued` to the bytes (when its status is ok) and runs its callback. No lock held.
    void Finish(Queued queued);

    const uint32_t block_size_;
    std::atomic<bool> discard_{true};
    mutable std::mutex mu_;
    std::vector<uint8_t> data_;        // guarded by mu_ (its size never changes)
    bool hold_ = false;                // guarded by mu_
    std::optional<Status> fail_next_;  // guarded by mu_
    std::deque<Queued> queue_;         // guarded by mu_
    std::vector<Record> records_;      // guarded by mu_
};

}  // namespace lunfs::fakes
