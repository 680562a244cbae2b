// FuseSession: mounts a LunFs and serves it with workers of its own, each reading requests into
// buffers that writes may keep (fuse/request_buffer.h), then handing them to libfuse.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"
#include "fuse/lun_fs.h"
#include "fuse/request_buffer.h"

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

    // Serves requests with `threads` workers until the file system is unmounted or SIGINT,
    // SIGTERM or SIGHUP arrive. Uses SIGUSR1 meanwhile to wake its workers.
    Status Run(unsigned threads);

  private:
    FuseSession(fuse_session* se, std::string mountpoint)
        : se_(se), mountpoint_(std::move(mountpoint)) {}
    void Serve();
    void Stop(Status why);

    fuse_session* se_;
    std::string mountpoint_;
    RequestBufferPool pool_;
    std::mutex error_mu_;
    Status error_;  // guarded by error_mu_: why the session stopped, when it failed
};

// Checks that `path` is an existing directory this process can mount on; one-line error if not.
Status CheckMountpoint(const std::string& path);

}  // namespace lunfs
