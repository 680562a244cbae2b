#include "core/block_device.h"

#include <fmt/format.h>

#include <cerrno>

namespace lunfs {

const char* IoOpName(IoOp op) {
    switch (op) {
        case IoOp::kRead:
            return "read";
        case IoOp::kWrite:
            return "write";
        case IoOp::kFlush:
            return "flush";
        case IoOp::kDiscard:
            return "discard";
    }
    return "?";
}

uint64_t IoRequest::Length() const {
    if (op == IoOp::kDiscard) return discard_length;
    uint64_t total = 0;
    for (const iovec& v : iov) total += v.iov_len;
    return total;
}

Status ValidateRequest(const BlockDevice& device, const IoRequest& request) {
    if (request.op == IoOp::kFlush) return Status::Ok();
    const uint64_t length = request.Length();
    const uint64_t align = device.Alignment();
    if (request.offset % align != 0 || length % align != 0) {
        return Status::Fail(EINVAL,
                            fmt::format("{} of {} bytes at {} is not aligned to {} bytes",
                                        IoOpName(request.op), length, request.offset, align));
    }
    if (request.offset > device.Capacity() || length > device.Capacity() - request.offset) {
        return Status::Fail(
            EINVAL, fmt::format("{} of {} bytes at {} ends past the capacity {}",
                                IoOpName(request.op), length, request.offset, device.Capacity()));
    }
    return Status::Ok();
}

bool CompleteWithoutIo(const BlockDevice& device, IoRequest& request) {
    if (Status s = ValidateRequest(device, request); !s.ok()) {
        request.done(std::move(s));
        return true;
    }
    if (request.op != IoOp::kFlush && request.Length() == 0) {
        request.done(Status::Ok());
        return true;
    }
    return false;
}

}  // namespace lunfs
