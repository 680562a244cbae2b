// `lunfs mount`: log in to the LUN, mount it, serve it.
#pragma once

#include <string>
#include <vector>

namespace lunfs {

struct MountCommandOptions {
    std::string mountpoint;
    std::vector<std::string> urls;
    std::vector<std::string> names;  // file names, one per URL; default lun<N>
    bool foreground = false;
    bool read_only = false;
    bool allow_other = false;
    std::string initiator_name = "iqn.2026-11.io.lunfs:initiator";
    std::string chap_secret_file;
    std::string chap_target_user;         // mutual CHAP: the target's name...
    std::string chap_target_secret_file;  // ...and where its secret is (else the environment)
    int login_timeout_s = 15;
    int command_timeout_s = 30;
    unsigned queue_depth = 64;
    unsigned max_extent_kib = 1024;
    std::string policy = "spread";
    unsigned rr_switch_every = 1000;
    double no_path_timeout_s = 30;
    unsigned fuse_threads = 16;
    std::string log_level = "info";
    std::string log_file;
};

// Returns the process exit code: 0 once unmounted cleanly (foreground) or once the mount is
// ready (background); 1 when it cannot be mounted; 2 for bad input. Errors are one line on
// stderr.
int RunMount(const MountCommandOptions& options);

}  // namespace lunfs
