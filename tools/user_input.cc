#include "tools/user_input.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <vector>

namespace lunfs {

namespace {

std::string Folded(std::string_view s) {
    std::string out(s);
    std::replace(out.begin(), out.end(), '_', '-');
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

}  // namespace

size_t EditDistance(std::string_view a, std::string_view b) {
    // Optimal string alignment distance, three rows.
    std::vector<size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                cur[j] = std::min(cur[j], before[j - 2] + 1);
            }
        }
        before.swap(prev);
        prev.swap(cur);
    }
    return prev[b.size()];
}

std::string ClosestMatch(std::string_view word, std::span<const std::string> candidates) {
    const std::string w = Folded(word);
    if (w.find_first_not_of('-') == std::string::npos) return "";
    if (w.size() - w.find_first_not_of('-') < 3) {
        // Too short to guess a typo from ("-o"): only a name it begins.
        for (const std::string& c : candidates) {
            if (Folded(c).starts_with(w) && Folded(c) != w) return c;
        }
        return "";
    }
    const size_t limit = std::clamp<size_t>(w.size() / 3, 1, 3);
    std::string best;
    size_t best_distance = limit + 1;
    for (const std::string& c : candidates) {
        const std::string folded = Folded(c);
        const bool prefix = w.size() >= 4 && folded.starts_with(w);
        const size_t apart =
            w.size() > folded.size() ? w.size() - folded.size() : folded.size() - w.size();
        if (apart > limit && !prefix) continue;  // too far apart to be a typo
        size_t d = EditDistance(w, folded);
        // A prefix of a long name ("--cache-siz") is as good as a typo.
        if (prefix) d = std::min<size_t>(d, 1);
        if (d < best_distance) {
            best = c;
            best_distance = d;
        }
    }
    return best;
}

std::string DidYouMean(std::string_view word, std::span<const std::string> candidates,
                       std::string_view otherwise) {
    const std::string match = ClosestMatch(word, candidates);
    return match.empty() ? std::string(otherwise) : fmt::format(" (did you mean '{}'?)", match);
}

Status CheckIscsiScheme(std::string_view text, std::string_view form) {
    const size_t colon = text.find(':');
    if (colon == std::string_view::npos || text.starts_with("iscsi://")) return Status::Ok();
    const std::string_view scheme = text.substr(0, colon);
    const bool is_scheme = !scheme.empty() && std::all_of(scheme.begin(), scheme.end(), [](char c) {
        return std::isalpha(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
    });
    if (!is_scheme || !text.substr(colon).starts_with(":/")) return Status::Ok();
    std::string_view rest = text.substr(colon + 1);
    while (rest.starts_with('/')) rest.remove_prefix(1);
    const bool has_path = rest.find('/') != std::string_view::npos;
    return Status::Fail(EINVAL, fmt::format("'{}' is not an iscsi:// URL (use iscsi://{}{})", text,
                                            rest, has_path ? "" : form));
}

}  // namespace lunfs
