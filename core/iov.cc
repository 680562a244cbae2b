#include "core/iov.h"

#include <algorithm>
#include <cstring>

namespace lunfs {

std::vector<iovec> SliceIov(const std::vector<iovec>& iov, uint64_t offset, uint64_t length) {
    std::vector<iovec> out;
    for (const iovec& v : iov) {
        if (length == 0) break;
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        const uint64_t take = std::min<uint64_t>(v.iov_len - offset, length);
        out.push_back(iovec{static_cast<char*>(v.iov_base) + offset, static_cast<size_t>(take)});
        length -= take;
        offset = 0;
    }
    return out;
}

void CopyToIov(const std::vector<iovec>& iov, uint64_t offset, const void* src, uint64_t length) {
    const auto* from = static_cast<const char*>(src);
    for (const iovec& v : SliceIov(iov, offset, length)) {
        std::memcpy(v.iov_base, from, v.iov_len);
        from += v.iov_len;
    }
}

void CopyFromIov(const std::vector<iovec>& iov, uint64_t offset, void* dst, uint64_t length) {
    auto* to = static_cast<char*>(dst);
    for (const iovec& v : SliceIov(iov, offset, length)) {
        std::memcpy(to, v.iov_base, v.iov_len);
        to += v.iov_len;
    }
}

}  // namespace lunfs
