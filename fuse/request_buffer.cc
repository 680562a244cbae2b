#include "fuse/request_buffer.h"

#include <sys/mman.h>

#include <cstdint>

namespace lunfs {

namespace {

// Maps kBytes at a kBytes-aligned address (a huge page's alignment) and asks for huge pages.
std::byte* MapAligned() {
    constexpr size_t kBytes = RequestBufferPool::kBytes;
    void* raw =
        mmap(nullptr, 2 * kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    const auto start = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = (start + kBytes - 1) & ~(uintptr_t{kBytes} - 1);
    if (aligned > start) munmap(raw, aligned - start);
    const uintptr_t end = start + 2 * kBytes;
    if (end > aligned + kBytes)
        munmap(reinterpret_cast<void*>(aligned + kBytes), end - aligned - kBytes);
    auto* buffer = reinterpret_cast<std::byte*>(aligned);
    madvise(buffer, kBytes, MADV_HUGEPAGE);  // advice only: fine if refused
    return buffer;
}

}  // namespace

RequestBufferPool::~RequestBufferPool() {
    for (std::byte* b : free_) munmap(b, kBytes);
}

std::byte* RequestBufferPool::Get() {
    {
        std::lock_guard lock(mu_);
        ++out_;
        if (!free_.empty()) {
            std::byte* b = free_.back();
            free_.pop_back();
            return b;
        }
    }
    std::byte* b = MapAligned();
    if (!b) {
        std::lock_guard lock(mu_);
        --out_;
    }
    return b;
}

void RequestBufferPool::Put(std::byte* buffer) {
    if (!buffer) return;
    {
        std::lock_guard lock(mu_);
        --out_;
        if (free_.size() < keep_) {
            free_.push_back(buffer);
            return;
        }
    }
    munmap(buffer, kBytes);
}

bool RequestBufferPool::CanLend() const {
    std::lock_guard lock(mu_);
    return out_ < lend_;
}

CurrentRequest& ThisWorkersRequest() {
    thread_local CurrentRequest current;
    return current;
}

std::shared_ptr<const std::byte> TakeRequestBuffer(const void* data) {
    CurrentRequest& current = ThisWorkersRequest();
    const auto* p = static_cast<const std::byte*>(data);
    if (!current.buffer || p < current.buffer || p >= current.buffer + current.size ||
        !current.pool->CanLend()) {
        return nullptr;
    }
    std::byte* buffer = current.buffer;
    RequestBufferPool* pool = current.pool;
    current.buffer = nullptr;  // the worker reads its next request elsewhere
    return std::shared_ptr<const std::byte>(
        buffer, [pool](const std::byte* b) { pool->Put(const_cast<std::byte*>(b)); });
}

}  // namespace lunfs
