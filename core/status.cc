#include "core/status.h"

#include <fmt/format.h>

#include <cstring>

namespace lunfs {

std::string Status::ToString() const {
    if (ok()) return "ok";
    const char* name = strerrordesc_np(code_);
    std::string out = fmt::format("{} ({}", message_, name ? name : "unknown error");
    if (sense_) {
        out += fmt::format(", sense {:x}/{:02x}/{:02x}", sense_->key, sense_->asc, sense_->ascq);
    }
    out += ")";
    return out;
}

}  // namespace lunfs
