// `lunfs mount`: log in to the LUNs, mount them, serve them.
#pragma once

#include "tools/mount_options.h"

namespace lunfs {

// Mounts what `settings` describes (see ResolveMountSettings). Returns the process exit code: 0
// once unmounted cleanly (foreground) or once the mount is ready (background); 1 when it cannot
// be mounted; 2 for bad input. Errors are one line on stderr.
int RunMount(const MountSettings& settings);

}  // namespace lunfs
