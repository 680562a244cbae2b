// Helpers for scatter-gather lists.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <vector>

namespace lunfs {

// The part [offset, offset + length) of the bytes `iov` describes, as a new list pointing into
// the same memory. The range must lie inside the list.
std::vector<iovec> SliceIov(const std::vector<iovec>& iov, uint64_t offset, uint64_t length);

// Copies `length` bytes from `src` into the list's bytes at `offset`, and the other way round.
// The range must lie inside the list.
void CopyToIov(const std::vector<iovec>& iov, uint64_t offset, const void* src, uint64_t length);
void CopyFromIov(const std::vector<iovec>& iov, uint64_t offset, void* dst, uint64_t length);

}  // namespace lunfs
