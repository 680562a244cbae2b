// `lunfs unmount`: unmount a lunfs mount and wait for its daemon to finish.
#pragma once

#include <string>

namespace lunfs {

// Returns the process exit code; errors are one line on stderr.
int RunUnmount(const std::string& mountpoint, int timeout_s);

}  // namespace lunfs
