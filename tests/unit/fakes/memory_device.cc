#include "tests/unit/fakes/memory_device.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace lunfs::fakes {

MemoryDevice::MemoryDevice(uint64_t capacity, uint32_t block_size)
    : block_size_(block_size), data_(capacity, 0) {}

void MemoryDevice::Submit(IoRequest request) {
    Queued queued{std::move(request), Status::Ok()};
    {
        std::lock_guard lock(mu_);
        records_.push_back(
            Record{queued.request.op, queued.request.offset, queued.request.Length()});
        if (fail_next_) {
            queued.status = std::move(*fail_next_);
            fail_next_.reset();
        } else if (queued.request.op == IoOp::kDiscard && !discard_) {
            queued.status = Status::Fail(EOPNOTSUPP, "discard not supported");
        } else {
            queued.status = ValidateRequest(*this, queued.request);
        }
        if (hold_) {
            queue_.push_back(std::move(queued));
            return;
        }
    }
    Finish(std::move(queued));
}

void MemoryDevice::Finish(Queued queued) {
    IoRequest& request = queued.request;
    if (queued.status.ok() && request.op == IoOp::kDiscard) {
        std::lock_guard lock(mu_);
        std::fill(data_.begin() + static_cast<ptrdiff_t>(request.offset),
                  data_.begin() + static_cast<ptrdiff_t>(request.offset + request.Length()), 0);
    } else if (queued.status.ok()) {
        std::lock_guard lock(mu_);
        uint64_t at = request.offset;
        for (const iovec& v : request.iov) {
            if (v.iov_len == 0) continue;
            if (request.op == IoOp::kRead) {
                std::memcpy(v.iov_base, data_.data() + at, v.iov_len);
            } else if (request.op == IoOp::kWrite) {
                std::memcpy(data_.data() + at, v.iov_base, v.iov_len);
            }
            at += v.iov_len;
        }
    }
    IoCallback done = std::move(request.done);
    done(std::move(queued.status));
}

void MemoryDevice::HoldCompletions(bool hold) {
    std::lock_guard lock(mu_);
    hold_ = hold;
}

void MemoryDevice::FailNext(Status status) {
    std::lock_guard lock(mu_);
    fail_next_ = std::move(status);
}

size_t MemoryDevice::Pending() const {
    std::lock_guard lock(mu_);
    return queue_.size();
}

MemoryDevice::Record MemoryDevice::PendingAt(size_t index) const {
    std::lock_guard lock(mu_);
    if (index >= queue_.size()) return Record{};
    const IoRequest& r = queue_[index].request;
    return Record{r.op, r.offset, r.Length()};
}

bool MemoryDevice::Complete(size_t index) {
    Queued queued;
    {
        std::lock_guard lock(mu_);
        if (index >= queue_.size()) return false;
        queued = std::move(queue_[index]);
        queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(index));
    }
    Finish(std::move(queued));
    return true;
}

size_t MemoryDevice::CompleteAll() {
    size_t n = 0;
    while (CompleteNext()) ++n;
    return n;
}

std::vector<MemoryDevice::Record> MemoryDevice::Requests() const {
    std::lock_guard lock(mu_);
    return records_;
}

void MemoryDevice::ClearRequests() {
    std::lock_guard lock(mu_);
    records_.clear();
}

std::vector<uint8_t> MemoryDevice::Contents(uint64_t offset, uint64_t length) const {
    std::lock_guard lock(mu_);
    return std::vector<uint8_t>(data_.begin() + static_cast<std::ptrdiff_t>(offset),
                                data_.begin() + static_cast<std::ptrdiff_t>(offset + length));
}

void MemoryDevice::Fill(uint64_t offset, const std::vector<uint8_t>& bytes) {
    std::lock_guard lock(mu_);
    std::memcpy(data_.data() + offset, bytes.data(), bytes.size());
}

}  // namespace lunfs::fakes
