#include "engine/lun_device.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>

#include "core/iov.h"

namespace lunfs {

namespace {

// A request split into extents: completes when the last extent does.
struct Parent {
    IoCallback done;
    std::atomic<uint32_t> remaining{0};
    std::mutex mu;
    Status first_error;  // guarded by mu

    void ExtentDone(Status s) {
        if (!s.ok()) {
            std::lock_guard lock(mu);
            if (first_error.ok()) first_error = std::move(s);
        }
        if (remaining.fetch_sub(1) != 1) return;
        Status result;
        {
            std::lock_guard lock(mu);
            result = std::move(first_error);
        }
        done(std::move(result));
    }
};

uint32_t ExtentBytes(const LunInfo& info, uint32_t configured) {
    const uint32_t bs = info.capacity.block_size;
    uint64_t limit = std::max<uint64_t>(configured, bs);
    if (info.limits.max_transfer_blocks != 0) {
        limit = std::min<uint64_t>(limit, uint64_t{info.limits.max_transfer_blocks} * bs);
    }
    return static_cast<uint32_t>(limit - limit % bs);
}

}  // namespace

LunDevice::LunDevice(std::shared_ptr<PathIo> path, LunDeviceOptions options)
    : path_(std::move(path)),
      info_(path_->info()),
      extent_bytes_(ExtentBytes(info_, options.max_extent_bytes)) {}

void LunDevice::Submit(IoRequest request) {
    if (Status s = ValidateRequest(*this, request); !s.ok()) {
        request.done(std::move(s));
        return;
    }
    if (request.op == IoOp::kFlush) {
        path_->Submit(PathCommand{CommandKind::kSyncCache, 0, 0, {}, std::move(request.done)});
        return;
    }
    const uint64_t length = request.Length();
    if (length == 0) {
        request.done(Status::Ok());
        return;
    }
    const uint32_t bs = BlockSize();
    const CommandKind kind = request.op == IoOp::kRead ? CommandKind::kRead : CommandKind::kWrite;
    auto parent = std::make_shared<Parent>();
    parent->done = std::move(request.done);
    const uint64_t extents = (length + extent_bytes_ - 1) / extent_bytes_;
    parent->remaining = static_cast<uint32_t>(extents);
    for (uint64_t done_bytes = 0; done_bytes < length; done_bytes += extent_bytes_) {
        const uint64_t len = std::min<uint64_t>(extent_bytes_, length - done_bytes);
        PathCommand cmd{kind, (request.offset + done_bytes) / bs, static_cast<uint32_t>(len / bs),
                        SliceIov(request.iov, done_bytes, len),
                        [parent](Status s) { parent->ExtentDone(std::move(s)); }};
        path_->Submit(std::move(cmd));
    }
}

}  // namespace lunfs
