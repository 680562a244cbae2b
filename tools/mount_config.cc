#include "tools/mount_config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "paths/iscsi_url.h"
#include "tools/user_input.h"

namespace lunfs {

namespace {

int LineOf(const toml::source_region& r) { return static_cast<int>(r.begin.line); }

Status At(const std::string& source, int line, const std::string& what) {
    return Status::Fail(EINVAL, fmt::format("{}:{}: {}", source, line, what));
}

const char* TypeName(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a number";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::table:
            return "a table";
        default:
            return "a date or time";
    }
}

Status UnknownKey(const std::string& source, int line, std::string_view key,
                  std::string_view where) {
    std::vector<std::string> keys;
    for (const MountOption& o : AllMountOptions()) {
        if (o.config_allowed) keys.emplace_back(o.key);
    }
    if (where.empty()) {
        keys.insert(keys.end(), {"mountpoint", "lun"});
    } else {
        keys.insert(keys.end(), {"urls", "portals", "target", "lun"});
    }
    return At(source, line, fmt::format("unknown key '{}'{}{}", key, where, DidYouMean(key, keys)));
}

// A scalar as an option value; arrays, tables and dates are errors.
Result<OptionValue> ValueOf(const toml::node& n, const std::string& origin) {
    if (auto v = n.value_exact<bool>()) return OptionValue(*v);
    if (auto v = n.value_exact<int64_t>()) return OptionValue(*v);
    if (auto v = n.value_exact<double>()) return OptionValue(*v);
    if (auto v = n.value_exact<std::string>()) return OptionValue(*v);
    return Status::Fail(EINVAL,
                        fmt::format("{}: must be a single value, not {}", origin, TypeName(n)));
}

Result<std::vector<std::string>> Strings(const toml::node& n, const std::string& origin) {
    const toml::array* a = n.as_array();
    if (!a)
        return Status::Fail(
            EINVAL, fmt::format("{}: must be an array of strings, not {}", origin, TypeName(n)));
    std::vector<std::string> out;
    for (const toml::node& e : *a) {
        auto s = e.value_exact<std::string>();
        if (!s) {
            return Status::Fail(EINVAL, fmt::format("{}: must be an array of strings, not hold {}",
                                                    origin, TypeName(e)));
        }
        out.push_back(*s);
    }
    return out;
}

// The table's keys sorted by line, so the first error reported is the first in the file.
std::vector<std::pair<const toml::key*, const toml::node*>> ByLine(const toml::table& t) {
    std::vector<std::pair<const toml::key*, const toml::node*>> out;
    for (const auto& [k, v] : t) out.emplace_back(&k, &v);
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return LineOf(a.first->source()) < LineOf(b.first->source());
    });
    return out;
}

// One [[lun]] table. URLs come from `urls`, or from `portals` with `target` and `lun`.
Result<MountConfig::Lun> ParseLun(const toml::table& t, const std::string& source) {
    MountConfig::Lun lun;
    lun.line = LineOf(t.source());
    std::vector<std::string> portals;
    std::string target;
    std::optional<int64_t> number;
    int portals_line = 0;
    for (const auto& [key, node] : ByLine(t)) {
        const std::string k(key->str());
        const int line = LineOf(key->source());
        const std::string origin = fmt::format("{}:{}: {}", source, line, k);
        if (k == "urls" || k == "portals") {
            Result<std::vector<std::string>> list = Strings(*node, origin);
            if (!list.ok()) return list.status();
            (k == "urls" ? lun.urls : portals) = std::move(list).value();
            if (k == "portals") portals_line = line;
        } else if (k == "target") {
            auto s = node->value_exact<std::string>();
            if (!s)
                return At(source, line,
                          fmt::format("target: must be a string, not {}", TypeName(*node)));
            target = *s;
        } else if (k == "lun") {
            auto n = node->value_exact<int64_t>();
            if (!n || *n < 0 || *n > kMaxLun) {
                return At(source, line,
                          fmt::format("lun: must be a LUN number from 0 to {}", kMaxLun));
            }
            number = *n;
        } else if (const MountOption* o = FindMountOption(k); o && o->per_lun()) {
            Result<OptionValue> v = ValueOf(*node, origin);
            if (!v.ok()) return v.status();
            lun.options.push_back({o, std::move(v).value(), origin, true});
        } else if (o) {
            return At(source, line,
                      fmt::format("'{}' applies to the whole mount: put it before "
                                  "the first [[lun]]",
                                  k));
        } else {
            return UnknownKey(source, line, k, " in [[lun]]");
        }
    }
    if (!portals.empty()) {
        if (!lun.urls.empty()) return At(source, lun.line, "[[lun]] has both urls and portals");
        if (target.empty() || !number) {
            return At(source, portals_line, "portals need target and lun in the same [[lun]]");
        }
        for (const std::string& p : portals) {
            lun.urls.push_back(fmt::format("iscsi://{}/{}/{}", p, target, *number));
        }
    } else if (!target.empty() || number) {
        return At(source, lun.line, "target and lun need portals in the same [[lun]]");
    }
    if (lun.urls.empty()) {
        return At(source, lun.line,
                  "[[lun]] has no URL: give urls = [...], or portals, target and lun");
    }
    for (const std::string& u : lun.urls) {
        if (Status s = CheckIscsiScheme(u, "/target-iqn/lun"); !s.ok()) {
            return At(source, lun.line, s.message());
        }
        Result<IscsiUrl> url = ParseIscsiUrl(u);
        if (!url.ok()) return At(source, lun.line, url.status().message());
    }
    return lun;
}

Result<MountConfig> FromTable(const toml::table& root, const std::string& source) {
    MountConfig config;
    for (const auto& [key, node] : ByLine(root)) {
        const std::string k(key->str());
        const int line = LineOf(key->source());
        const std::string origin = fmt::format("{}:{}: {}", source, line, k);
        if (k == "lun") {
            const toml::array* luns = node->as_array();
            if (!luns || !luns->is_array_of_tables()) {
                return At(source, line, "lun must be [[lun]] tables");
            }
            for (const toml::node& t : *luns) {
                Result<MountConfig::Lun> lun = ParseLun(*t.as_table(), source);
                if (!lun.ok()) return lun.status();
                config.luns.push_back(std::move(lun).value());
            }
        } else if (k == "mountpoint") {
            auto s = node->value_exact<std::string>();
            if (!s)
                return At(source, line,
                          fmt::format("mountpoint: must be a string, not {}", TypeName(*node)));
            config.mountpoint = *s;
        } else if (const MountOption* o = FindMountOption(k); o && o->config_allowed) {
            if (o->key == "name") return At(source, line, "name belongs in a [[lun]] table");
            Result<OptionValue> v = ValueOf(*node, origin);
            if (!v.ok()) return v.status();
            config.options.push_back({o, std::move(v).value(), origin, true});
        } else {
            return UnknownKey(source, line, k, "");
        }
    }
    if (config.luns.empty()) return At(source, 1, "no [[lun]] table: nothing to mount");
    return config;
}

}  // namespace

Result<MountConfig> ParseMountConfig(std::string_view text, const std::string& source) {
    toml::table root;
    try {
        root = toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        return At(source, LineOf(e.source()), std::string(e.description()));
    }
    return FromTable(root, source);
}

Result<MountConfig> LoadMountConfig(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return Status::Fail(errno ? errno : ENOENT,
                            fmt::format("config {}: {}", path, std::strerror(errno)));
    }
    std::stringstream text;
    text << in.rdbuf();
    return ParseMountConfig(text.str(), path);
}

Result<MountSettings> ResolveMountSettings(const MountRequest& request) {
    MountSettings settings;
    MountConfig config;
    if (!request.config.empty()) {
        Result<MountConfig> loaded = LoadMountConfig(request.config);
        if (!loaded.ok()) return loaded.status();
        config = std::move(loaded).value();
        settings.config = request.config;
        settings.mountpoint = config.mountpoint;
        for (const OptionAssignment& a : config.options) {
            if (Status s = ApplyOption(a, settings); !s.ok()) return s;
        }
    }
    for (const OptionAssignment& a : request.options) {
        if (Status s = ApplyOption(a, settings); !s.ok()) return s;
    }
    if (!request.mountpoint.empty()) settings.mountpoint = request.mountpoint;
    if (settings.mountpoint.empty()) {
        return Status::Fail(EINVAL, "no mountpoint: give one, or mountpoint = in the config");
    }
    if (!config.luns.empty()) {
        if (!request.urls.empty()) {
            return Status::Fail(EINVAL, fmt::format("give URLs or the [[lun]] tables of {}, not "
                                                    "both",
                                                    request.config));
        }
        if (!settings.names.empty()) {
            return Status::Fail(EINVAL,
                                "name is for URLs on the command line; a config names "
                                "its LUNs in their [[lun]] tables");
        }
        settings.grouped_by_identity = false;
        for (const MountConfig::Lun& c : config.luns) {
            LunSettings lun = settings.defaults;
            lun.line = c.line;
            lun.urls = c.urls;
            for (const OptionAssignment& a : c.options) {
                if (Status s = ApplyLunOption(a, lun); !s.ok()) return s;
            }
            settings.luns.push_back(std::move(lun));
        }
        return settings;
    }
    if (request.urls.empty()) return Status::Fail(EINVAL, "no URL given: nothing to mount");
    LunSettings all = settings.defaults;
    all.urls = request.urls;
    settings.luns.push_back(std::move(all));
    return settings;
}

}  // namespace lunfs
