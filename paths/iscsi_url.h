// iSCSI URLs: iscsi://[user@]host[:port]/target-iqn/lun
//
// host is a name, an IPv4 address or a bracketed IPv6 address; the target name may be
// percent-encoded (iqn.2026-01.org.example%3Adisk1). CHAP secrets are never taken from a URL:
// "user%secret@" is refused, because a URL ends up in argv, shell history and logs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace lunfs {

inline constexpr uint16_t kDefaultIscsiPort = 3260;
inline constexpr size_t kMaxIscsiNameLength = 223;  // RFC 7143, section 4.2.7.1
inline constexpr int kMaxLun = 16383;               // flat addressing space

struct IscsiUrl {
    std::string user;  // CHAP user name; empty for none
    std::string host;  // without brackets
    uint16_t port = kDefaultIscsiPort;
    std::string target;  // decoded
    int lun = 0;

    // "host:port", with brackets around an IPv6 address: what libiscsi connects to.
    std::string Portal() const;
    // The canonical URL, target percent-encoded where needed; never holds a secret.
    std::string ToString() const;
    // As ToString() without the target and LUN: iscsi://[user@]host:port
    std::string PortalUrl() const;

    friend bool operator==(const IscsiUrl&, const IscsiUrl&) = default;
};

// Parses a LUN URL; the error message says what is wrong with it in one line.
Result<IscsiUrl> ParseIscsiUrl(std::string_view text);

}  // namespace lunfs
