#include "fuse/session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lunfs {

Status CheckMountpoint(const std::string& path) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
        return Status::Fail(errno, fmt::format("mountpoint {}: {}", path, std::strerror(errno)));
    }
    if (!S_ISDIR(st.st_mode)) {
        return Status::Fail(ENOTDIR, fmt::format("mountpoint {} is not a directory", path));
    }
    if (access(path.c_str(), W_OK | X_OK) != 0) {
        return Status::Fail(errno, fmt::format("mountpoint {}: {}", path, std::strerror(errno)));
    }
    return Status::Ok();
}

Result<std::unique_ptr<FuseSession>> FuseSession::Mount(LunFs& fs, const std::string& mountpoint,
                                                        const MountOptions& options) {
    if (Status s = CheckMountpoint(mountpoint); !s.ok()) return s;
    std::string opts =
        fmt::format("fsname={},subtype=lunfs,default_permissions,max_read={},auto_unmount",
                    options.fsname, 1 << 20);
    if (options.allow_other) opts += ",allow_other";
    if (options.read_only) opts += ",ro";

    fuse_args args = FUSE_ARGS_INIT(0, nullptr);
    fuse_opt_add_arg(&args, "lunfs");
    fuse_opt_add_arg(&args, "-o");
    fuse_opt_add_arg(&args, opts.c_str());
    fuse_session* se = fuse_session_new(&args, &LunFs::Ops(), sizeof(fuse_lowlevel_ops), &fs);
    fuse_opt_free_args(&args);
    if (!se) return Status::Fail(EINVAL, "cannot create the FUSE session");
    if (fuse_set_signal_handlers(se) != 0) {
        fuse_session_destroy(se);
        return Status::Fail(EIO, "cannot install signal handlers");
    }
    if (fuse_session_mount(se, mountpoint.c_str()) != 0) {
        fuse_remove_signal_handlers(se);
        fuse_session_destroy(se);
        return Status::Fail(EIO, fmt::format("cannot mount on {} (is /dev/fuse there, and "
                                             "fusermount3 installed?)",
                                             mountpoint));
    }
    return std::unique_ptr<FuseSession>(new FuseSession(se, mountpoint));
}

FuseSession::~FuseSession() {
    fuse_session_unmount(se_);
    fuse_remove_signal_handlers(se_);
    fuse_session_destroy(se_);
}

Status FuseSession::Run(unsigned max_threads) {
    fuse_loop_config* config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(config, max_threads);
    fuse_loop_cfg_set_idle_threads(config, 4);
    const int rc = fuse_session_loop_mt(se_, config);
    fuse_loop_cfg_destroy(config);
    if (rc < 0) return Status::Fail(-rc, fmt::format("FUSE loop on {} failed", mountpoint_));
    return Status::Ok();
}

}  // namespace lunfs
