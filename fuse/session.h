// FuseSession: mounts a LunFs and serves it with libfuse's multi-threaded loop.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "fuse/lun_fs.h"

namespace lunfs {

struct MountOptions {
    bool allow_other = false;  // let other users in (needs user_allow_other for non-root)
    bool read_only = false;
    std::string fsname = "lunfs";  // shown as the source in /proc/mounts
};

class FuseSession {
  public:
    // Mounts `fs` on `mountpoint`; the mount is private to the caller with default_permissions
    // unless allow_other, and goes away by itself if this process dies (auto_unmount).
    static Result<std::unique_ptr<FuseSession>> Mount(LunFs& fs, const std::string& mountpoint,
                                                      const MountOptions& options);
    ~FuseSession();  // unmounts if still mounted

    // Serves requests until the file system is unmounted or SIGINT/SIGTERM/SIGHUP arrive.
    Status Run(unsigned max_threads);

  private:
    FuseSession(fuse_session* se, std::string mountpoint)
        : se_(se), mountpoint_(std::move(mountpoint)) {}

    fuse_session* se_;
    std::string mountpoint_;
};

// Checks that `path` is an existing directory this process can mount on; one-line error if not.
Status CheckMountpoint(const std::string& path);

}  // namespace lunfs
