// Helpers for messages about what a user typed: the closest known word for a did-you-mean, and
// URLs of another scheme named as such.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace lunfs {

// Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word`, when it is close enough to be a typo of it (a third of its
// length at most, and 2 edits at most for short words; `_` and `-` alike); "" otherwise.
std::string ClosestMatch(std::string_view word, std::span<const std::string> candidates);

// " (did you mean 'X'?)" for the closest candidate, or `otherwise` when none is close.
std::string DidYouMean(std::string_view word, std::span<const std::string> candidates,
                       std::string_view otherwise = "");

// Fails when `text` is a URL of another scheme (http://..., iscsi:/...): "'http://h:3260' is not
// an iscsi:// URL (use iscsi://h:3260FORM)"; FORM ("/target-iqn/lun") is added when the text has
// no path. Text without a scheme (host:port) passes.
Status CheckIscsiScheme(std::string_view text, std::string_view form);

}  // namespace lunfs
