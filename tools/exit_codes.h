// Exit codes of the `lunfs` command, the same for every subcommand.
#pragma once

namespace lunfs {

inline constexpr int kExitFailed = 1;    // the work failed (a target, a mount, an I/O)
inline constexpr int kExitBadInput = 2;  // the command line, a config or a URL is wrong

}  // namespace lunfs
