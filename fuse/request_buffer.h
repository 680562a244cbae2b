// Request buffers: the memory FUSE requests are read into, and how a write keeps its own.
//
// FuseSession's workers read each request into a buffer from a RequestBufferPool: 2 MiB, aligned
// and backed by a transparent huge page where the kernel allows it, so that the kernel pins one
// page instead of 256 when it copies a 1 MiB write in. A write handler running on such a worker
// may take the buffer its payload arrived in (TakeRequestBuffer) and keep it until the write has
// completed, instead of copying the payload; the worker then reads its next request into another
// buffer. The taken buffer goes back to the pool when the last handle to it is dropped.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace lunfs {

class RequestBufferPool {
  public:
    static constexpr size_t kBytes = 2u << 20;  // a 1 MiB write and its headers, with room
    // `keep`: buffers kept for reuse at most (beyond it, returned ones are unmapped). `lend`:
    // buffers out at most before TakeRequestBuffer declines, so that writes in flight cannot
    // pin more than that many.
    explicit RequestBufferPool(size_t keep = 8, size_t lend = 12) : keep_(keep), lend_(lend) {}
    ~RequestBufferPool();
    RequestBufferPool(const RequestBufferPool&) = delete;
    RequestBufferPool& operator=(const RequestBufferPool&) = delete;

    // A buffer of kBytes, or nullptr when memory is exhausted. Thread-safe.
    std::byte* Get();
    void Put(std::byte* buffer);
    // Whether one more buffer may be lent out to a write.
    bool CanLend() const;

  private:
    const size_t keep_;
    const size_t lend_;
    mutable std::mutex mu_;
    std::vector<std::byte*> free_;  // guarded by mu_
    size_t out_ = 0;                // guarded by mu_: handed out by Get, not yet Put back
};

// The current FUSE worker's request buffer, as the worker loop publishes it while a request is
// being handled. Internal to fuse/: set by FuseSession, used by TakeRequestBuffer.
struct CurrentRequest {
    RequestBufferPool* pool = nullptr;
    std::byte* buffer = nullptr;  // null: none, or already taken
    size_t size = 0;              // bytes of the request in it
};
CurrentRequest& ThisWorkersRequest();

// When `data` lies inside the request buffer of the FUSE worker this runs on, and the buffer is
// not taken yet, takes it: the worker will not reuse it while the returned handle (or a copy of
// it) lives. Returns nullptr otherwise (the caller copies the data instead).
std::shared_ptr<const std::byte> TakeRequestBuffer(const void* data);

}  // namespace lunfs
