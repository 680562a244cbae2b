#include "paths/reservation.h"

#include <fmt/format.h>

#include <cerrno>
#include <functional>

namespace lunfs {

const char* ReservationTypeName(uint8_t type) {
    switch (type) {
        case reserve::kWriteExclusive:
            return "Write Exclusive";
        case reserve::kExclusiveAccess:
            return "Exclusive Access";
        case reserve::kWriteExclusiveRegistrantsOnly:
            return "Write Exclusive - Registrants Only";
        case reserve::kExclusiveAccessRegistrantsOnly:
            return "Exclusive Access - Registrants Only";
        case reserve::kWriteExclusiveAllRegistrants:
            return "Write Exclusive - All Registrants";
        case reserve::kExclusiveAccessAllRegistrants:
            return "Exclusive Access - All Registrants";
    }
    return "unknown type";
}

const char* ReservationTypeSlug(uint8_t type) {
    switch (type) {
        case reserve::kWriteExclusive:
            return "write-exclusive";
        case reserve::kExclusiveAccess:
            return "exclusive-access";
        case reserve::kWriteExclusiveRegistrantsOnly:
            return "write-exclusive-registrants-only";
        case reserve::kExclusiveAccessRegistrantsOnly:
            return "exclusive-access-registrants-only";
        case reserve::kWriteExclusiveAllRegistrants:
            return "write-exclusive-all-registrants";
        case reserve::kExclusiveAccessAllRegistrants:
            return "exclusive-access-all-registrants";
    }
    return "";
}

Result<uint64_t> ParseReservationKey(std::string_view text) {
    std::string_view digits = text;
    if (digits.starts_with("0x") || digits.starts_with("0X")) digits.remove_prefix(2);
    if (digits.empty() || digits.size() > 16) {
        return Status::Fail(EINVAL, fmt::format("'{}' is not a reservation key (1 to 16 hex "
                                                "digits, 0x optional)",
                                                text));
    }
    uint64_t key = 0;
    for (char c : digits) {
        int v;
        if (c >= '0' && c <= '9') {
            v = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v = c - 'A' + 10;
        } else {
            return Status::Fail(EINVAL, fmt::format("'{}' is not a reservation key (1 to 16 hex "
                                                    "digits, 0x optional)",
                                                    text));
        }
        key = key << 4 | static_cast<uint64_t>(v);
    }
    return key;
}

Result<uint8_t> ParseReservationType(std::string_view text) {
    for (uint8_t type :
         {reserve::kWriteExclusive, reserve::kExclusiveAccess,
          reserve::kWriteExclusiveRegistrantsOnly, reserve::kExclusiveAccessRegistrantsOnly,
          reserve::kWriteExclusiveAllRegistrants, reserve::kExclusiveAccessAllRegistrants}) {
        if (text == std::to_string(type) || text == ReservationTypeSlug(type)) return type;
    }
    return Status::Fail(EINVAL, fmt::format("unknown reservation type '{}' (1 write-exclusive, 3 "
                                            "exclusive-access, 5 write-exclusive-registrants-only, "
                                            "6 exclusive-access-registrants-only, 7 "
                                            "write-exclusive-all-registrants, 8 "
                                            "exclusive-access-all-registrants)",
                                            text));
}

Result<RegisteredKeys> ParseReadKeys(Bytes data) {
    if (data.size() < 8) {
        return Status::Fail(EIO, fmt::format("READ KEYS answer of {} bytes", data.size()));
    }
    RegisteredKeys out;
    out.generation = Be32(data, 0);
    const uint32_t length = Be32(data, 4);
    if (length % 8 != 0) {
        return Status::Fail(EIO, fmt::format("READ KEYS list of {} bytes", length));
    }
    // The list may be cut at the allocation length: only whole keys that arrived count, and a
    // cut list is an error (a key not seen could be one to preempt).
    if (data.size() - 8 < length) {
        return Status::Fail(EOVERFLOW, fmt::format("READ KEYS list of {} bytes, {} arrived", length,
                                                   data.size() - 8));
    }
    for (size_t at = 8; at + 8 <= 8 + size_t{length}; at += 8) out.keys.push_back(Be64(data, at));
    return out;
}

Result<std::optional<ReservationHolder>> ParseReadReservation(Bytes data) {
    if (data.size() < 8) {
        return Status::Fail(EIO, fmt::format("READ RESERVATION answer of {} bytes", data.size()));
    }
    const uint32_t length = Be32(data, 4);
    if (length == 0) return std::optional<ReservationHolder>{};
    if (length < 16 || data.size() < 24) {
        return Status::Fail(EIO, fmt::format("READ RESERVATION descriptor of {} bytes", length));
    }
    ReservationHolder h;
    h.key = Be64(data, 8);
    h.type = data[21] & 0x0f;
    return std::optional<ReservationHolder>{h};
}

Result<ReservationCapabilities> ParseReportCapabilities(Bytes data) {
    if (data.size() < 6) {
        return Status::Fail(EIO,
                            fmt::format("REPORT CAPABILITIES answer of {} bytes", data.size()));
    }
    ReservationCapabilities c;
    c.type_mask_valid = (data[3] & 0x80) != 0;
    if (c.type_mask_valid) c.type_mask = static_cast<uint16_t>(data[4] << 8 | data[5]);
    return c;
}

bool ReservationCapabilities::Supports(uint8_t type) const {
    if (!type_mask_valid) return false;
    // SPC-4 table 172: byte 4 holds types 7 (bit 7), 6, 5, 3 and 1; byte 5 bit 0 holds type 8.
    switch (type) {
        case reserve::kWriteExclusiveAllRegistrants:
            return type_mask & 0x8000;
        case reserve::kExclusiveAccessRegistrantsOnly:
            return type_mask & 0x4000;
        case reserve::kWriteExclusiveRegistrantsOnly:
            return type_mask & 0x2000;
        case reserve::kExclusiveAccess:
            return type_mask & 0x0800;
        case reserve::kWriteExclusive:
            return type_mask & 0x0200;
        case reserve::kExclusiveAccessAllRegistrants:
            return type_mask & 0x0001;
    }
    return false;
}

ReservationKeys::ReservationKeys(const std::string& initiator_name, uint32_t pid)
    : prefix_(uint64_t{0x4c46} << 32 |
              uint64_t{static_cast<uint16_t>(std::hash<std::string>{}(initiator_name))} << 16 |
              (pid & 0xffff)) {}

ReservationKeys::ReservationKeys(uint64_t host_key)
    : prefix_(0), host_mode_(true), host_key_(host_key) {}

std::shared_ptr<ReservationKeys> ReservationKeys::ForHostKey(uint64_t key) {
    return std::shared_ptr<ReservationKeys>(new ReservationKeys(key));
}

uint64_t ReservationKeys::Claim() {
    std::lock_guard lock(mu_);
    if (host_mode_) {
        ++host_claims_;
        return host_key_;
    }
    uint64_t key = prefix_ << 16 | (next_++ & 0xffff);
    if ((next_ & 0xffff) == 0) next_ = 1;  // a key is never 0 (0 means "no key")
    live_.insert(key);
    return key;
}

void ReservationKeys::Retire(uint64_t key) {
    std::lock_guard lock(mu_);
    if (host_mode_) {
        if (key == host_key_ && host_claims_ > 0) --host_claims_;
        return;
    }
    live_.erase(key);
}

std::set<uint64_t> ReservationKeys::Live() const {
    std::lock_guard lock(mu_);
    if (host_mode_) {
        return host_claims_ > 0 && host_key_ != 0 ? std::set<uint64_t>{host_key_}
                                                  : std::set<uint64_t>{};
    }
    return live_;
}

}  // namespace lunfs
