// LunDevice: one LUN as a BlockDevice, over the paths that reach it.
//
// A read or write is split into extents aligned to the logical block size and no larger than the
// LUN's maximum transfer length; each extent is one SCSI command on a path. The request completes
// when all its extents have, with the first failure if any. A flush is SYNCHRONIZE CACHE of the
// whole LUN; because a request's callback only runs once the target acknowledged it, a flush
// covers every write whose callback ran before the flush was submitted.
#pragma once

#include <cstdint>
#include <memory>

#include "core/block_device.h"
#include "paths/path_io.h"

namespace lunfs {

struct LunDeviceOptions {
    uint32_t max_extent_bytes = 1u << 20;  // upper bound on one command's data
};

class LunDevice final : public BlockDevice {
public:
    LunDevice(std::shared_ptr<PathIo> path, LunDeviceOptions options);

    uint64_t Capacity() const override { return info_.capacity.Bytes(); }
    uint32_t BlockSize() const override { return info_.capacity.block_size; }
    uint32_t Alignment() const override { return info_.capacity.block_size; }
    void Submit(IoRequest request) override;

    const LunInfo& info() const { return info_; }
    const PathIo& path() const { return *path_; }
    uint32_t extent_bytes() const { return extent_bytes_; }

private:
    std::shared_ptr<PathIo> path_;
    LunInfo info_;
    uint32_t extent_bytes_;
};

}  // namespace lunfs
