// RmwDevice: makes a block-aligned device accept any byte range.
//
// Reads of partial blocks read the covering blocks and scatter the unwanted head and tail into a
// scratch buffer. Writes of partial blocks read the edge blocks, then write whole blocks made of
// the old edges and the new bytes. Every write holds a RangeLock over the blocks it touches from
// before its edge reads until its write completes, so two overlapping writes (aligned or not)
// never interleave their read-modify-write and no byte of either is lost. Reads take no lock. A
// discard holds the same lock while it zeroes the blocks it covers partly (by read-modify-write)
// and discards the whole ones below.
#pragma once

#include <memory>

#include "core/block_device.h"
#include "core/range_lock.h"

namespace lunfs {

class RmwDevice final : public BlockDevice {
  public:
    // `inner` must have Alignment() == BlockSize().
    explicit RmwDevice(std::shared_ptr<BlockDevice> inner);

    uint64_t Capacity() const override { return inner_->Capacity(); }
    uint32_t BlockSize() const override { return inner_->BlockSize(); }
    uint32_t Alignment() const override { return 1; }
    void Submit(IoRequest request) override;
    bool CanDiscard() const override { return inner_->CanDiscard(); }
    // The inner device's: a flush's failures_seen is passed on with it.
    uint64_t WriteBackFailures() const override { return inner_->WriteBackFailures(); }

    const BlockDevice& inner() const { return *inner_; }

  private:
    struct Write;
    struct Discard;
    void SubmitRead(IoRequest request);
    void SubmitWrite(IoRequest request);
    void ReadEdges(std::shared_ptr<Write> write);
    void WriteMerged(std::shared_ptr<Write> write);
    void Finish(const std::shared_ptr<Write>& write, Status status);
    void SubmitDiscard(IoRequest request);
    void ZeroEdge(const std::shared_ptr<Discard>& discard, uint64_t block);
    void DiscardPartDone(const std::shared_ptr<Discard>& discard, Status status);

    std::shared_ptr<BlockDevice> inner_;
    RangeLock locks_;
};

}  // namespace lunfs
