#include "paths/iscsi_url.h"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <charconv>

namespace lunfs {

namespace {

constexpr std::string_view kScheme = "iscsi://";

Status Bad(std::string_view why) {
    return Status::Fail(EINVAL, fmt::format("bad iSCSI URL: {}", why));
}

int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Decodes %XX escapes; fails on a malformed escape or a control character.
Result<std::string> PercentDecode(std::string_view in) {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return Bad("truncated % escape");
            int hi = HexValue(in[i + 1]);
            int lo = HexValue(in[i + 2]);
            if (hi < 0 || lo < 0) return Bad("malformed % escape");
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
        }
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return Bad("control character");
        out.push_back(c);
    }
    return out;
}

// iSCSI names use a restricted alphabet (RFC 3722 stringprep output): lower-case letters, digits,
// '-', '.', ':'. Upper case is accepted and folded, as targets compare names case-insensitively.
Status CheckTargetName(std::string& name) {
    if (name.empty()) return Bad("empty target name");
    if (name.size() > kMaxIscsiNameLength) {
        return Bad(fmt::format("target name is {} bytes, the limit is {}", name.size(),
                               kMaxIscsiNameLength));
    }
    for (char& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == ':')) {
            return Bad(fmt::format("character '{}' is not allowed in a target name", c));
        }
    }
    if (!name.starts_with("iqn.") && !name.starts_with("eui.") && !name.starts_with("naa.")) {
        return Bad("target name must start with iqn., eui. or naa.");
    }
    return Status::Ok();
}

Status CheckHost(std::string_view host, bool bracketed) {
    if (host.empty()) return Bad("empty host");
    for (char c : host) {
        bool ok = bracketed ? (std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')
                            : (std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                               c == '.' || c == '_');
        if (!ok) return Bad(fmt::format("character '{}' is not allowed in the host", c));
    }
    if (bracketed && host.find(':') == std::string_view::npos)
        return Bad("bracketed host is not IPv6");
    return Status::Ok();
}

// A decimal number of at most five digits (ports and LUNs), nothing else around it.
template <typename T>
bool ParseNumber(std::string_view s, T& out) {
    if (s.empty() || s.size() > 5 || !std::isdigit(static_cast<unsigned char>(s[0]))) return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

std::string IscsiUrl::Portal() const {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

std::string IscsiUrl::PortalUrl() const {
    return fmt::format("iscsi://{}{}{}", user, user.empty() ? "" : "@", Portal());
}

std::string IscsiUrl::ToString() const { return fmt::format("{}/{}/{}", PortalUrl(), target, lun); }

Result<IscsiUrl> ParseIscsiUrl(std::string_view text) {
    if (!text.starts_with(kScheme)) return Bad("must start with iscsi://");
    std::string_view rest = text.substr(kScheme.size());
    IscsiUrl url;

    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return Bad("missing /target/lun after the host");
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = rest.substr(slash + 1);

    if (const size_t at = authority.find('@'); at != std::string_view::npos) {
        std::string_view user = authority.substr(0, at);
        authority = authority.substr(at + 1);
        if (user.find('%') != std::string_view::npos || user.find(':') != std::string_view::npos) {
            return Bad("a CHAP secret in the URL is refused; give only the user name");
        }
        if (user.empty()) return Bad("empty user name before '@'");
        for (char c : user) {
            if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
                return Bad("bad character in user name");
        }
        url.user = std::string(user);
    }

    std::string_view port_text;
    if (authority.starts_with('[')) {
        const size_t close = authority.find(']');
        if (close == std::string_view::npos) return Bad("unclosed '[' in the host");
        std::string_view host = authority.substr(1, close - 1);
        if (Status s = CheckHost(host, true); !s.ok()) return s;
        url.host = std::string(host);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') return Bad("junk after ']' in the host");
            port_text = after.substr(1);
            if (port_text.empty()) return Bad("empty port");
        }
    } else {
        const size_t colon = authority.find(':');
        std::string_view host = authority.substr(0, colon);
        if (Status s = CheckHost(host, false); !s.ok()) return s;
        url.host = std::string(host);
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
            if (port_text.empty()) return Bad("empty port");
        }
    }
    if (!port_text.empty()) {
        unsigned port = 0;
        if (!ParseNumber(port_text, port) || port == 0 || port > 65535) {
            return Bad(fmt::format("port '{}' is not a number from 1 to 65535", port_text));
        }
        url.port = static_cast<uint16_t>(port);
    }

    const size_t lun_slash = path.rfind('/');
    if (lun_slash == std::string_view::npos)
        return Bad("missing the /LUN number after the target name");
    std::string_view lun_text = path.substr(lun_slash + 1);
    if (lun_text.empty()) return Bad("empty LUN");
    int lun = -1;
    if (!ParseNumber(lun_text, lun) || lun < 0 || lun > kMaxLun) {
        return Bad(fmt::format("LUN '{}' is not a number from 0 to {}", lun_text, kMaxLun));
    }
    url.lun = lun;

    Result<std::string> target = PercentDecode(path.substr(0, lun_slash));
    if (!target.ok()) return target.status();
    url.target = std::move(target).value();
    if (Status s = CheckTargetName(url.target); !s.ok()) return s;
    return url;
}

}  // namespace lunfs
