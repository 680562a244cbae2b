// Helpers for scatter-gather lists.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <vector>

namespace lunfs {

// The part [offset, offset + length) of the bytes `iov` describes, as a new list pointing into
// the same memory. The range must lie inside the list.
std::vector<iovec> SliceIov(const std::vector<iovec>& iov, uint64_t offset, uint64_t length);

}  // namespace lunfs
