// The seam between the file side of lunfs (fuse/, cache/) and the storage side (engine/, paths/).
//
// A BlockDevice is an asynchronous byte-addressed device of fixed capacity. Callers submit
// requests; each request's callback runs exactly once, on whichever thread finishes it, possibly
// inside Submit() itself: callers must not hold a lock across Submit() that the callback takes.
// Nothing here names libiscsi: the multipath LUN, the read-modify-write adapter, the cache and the
// test fakes all implement this one interface, so each can decorate another.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "core/status.h"

namespace lunfs {

enum class IoOp : uint8_t {
    kRead,
    kWrite,
    kFlush,    // all writes completed before it was submitted reach stable storage
    kDiscard,  // the range is deallocated and reads as zeros afterwards (see CanDiscard)
};

const char* IoOpName(IoOp op);

using IoCallback = std::function<void(Status)>;

// What a request allows the layers between the file and the LUN.
enum IoFlags : uint32_t {
    kIoNoFlags = 0,
    // A write that must reach the LUN before it completes (a handle opened with O_DIRECT,
    // O_SYNC or O_DSYNC): no layer may acknowledge it from memory.
    kIoWriteThrough = 1u << 0,
    // A write that must be on the LUN's stable storage when it completes (a handle opened with
    // O_SYNC or O_DSYNC, or a pwritev2 with RWF_DSYNC): implies kIoWriteThrough. The engine
    // sends it with FUA where the LUN honours FUA, else follows it with a SYNCHRONIZE CACHE
    // where the LUN has a volatile write cache (or its caching mode page cannot be read).
    kIoDurable = 1u << 1,
};

struct IoRequest {
    IoOp op = IoOp::kRead;
    uint64_t offset = 0;     // bytes from the start of the device
    std::vector<iovec> iov;  // caller-owned memory; stays valid until `done` has run
    IoCallback done;         // called exactly once
    uint32_t flags = kIoNoFlags;
    uint64_t discard_length = 0;  // kDiscard: bytes from `offset` (it has no buffers)
    // kFlush: the BlockDevice::WriteBackFailures() count its caller has already been told of
    // (a file handle samples it at open, as Linux samples a mapping's errseq). The flush fails
    // when the count has moved past it, so every handle hears of every failure once.
    uint64_t failures_seen = 0;

    // Bytes the request covers: the iovec lengths summed (0 for a flush; discard_length for a
    // discard).
    uint64_t Length() const;
};

class BlockDevice {
  public:
    virtual ~BlockDevice() = default;

    virtual uint64_t Capacity() const = 0;   // bytes
    virtual uint32_t BlockSize() const = 0;  // the logical block size, bytes

    // Offsets and lengths of read and write requests must be multiples of this (1: any byte
    // range). A request that breaks it, or reaches past Capacity(), completes with EINVAL.
    virtual uint32_t Alignment() const = 0;

    // Starts the request. Thread-safe. The callback may run before Submit returns.
    virtual void Submit(IoRequest request) = 0;

    // Whether kDiscard requests are supported; without it they complete with EOPNOTSUPP.
    virtual bool CanDiscard() const { return false; }

    // Writes this device acknowledged before the LUN had them and the LUN then refused for good
    // (a write-back cache's final failures): a count that only grows. Devices that acknowledge
    // nothing early have none.
    virtual uint64_t WriteBackFailures() const { return 0; }
};

// Checks a request against a device's alignment and capacity; ok or EINVAL.
Status ValidateRequest(const BlockDevice& device, const IoRequest& request);

// Completes at once a request that needs no I/O: one ValidateRequest refuses (with its error),
// or an empty read, write or discard (ok). Returns whether it did; the caller then drops it.
bool CompleteWithoutIo(const BlockDevice& device, IoRequest& request);

}  // namespace lunfs
