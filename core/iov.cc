#include "core/iov.h"

#include <algorithm>

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

}  // namespace lunfs
