// lunfs: mount iSCSI LUNs as files, in user space.
#include <CLI/CLI.hpp>

#include "tools/admin_commands.h"
#include "tools/mount_command.h"
#include "tools/unmount_command.h"

namespace {

constexpr const char* kDescription =
    "lunfs mounts iSCSI LUNs as plain files through FUSE, talking iSCSI itself: no kernel "
    "initiator needed.\n\nExamples:\n"
    "  lunfs mount /mnt/san iscsi://192.0.2.10/iqn.2026-01.com.example:store/1 \\\n"
    "                       iscsi://192.0.2.11/iqn.2026-01.com.example:store/1\n"
    "  ls -l /mnt/san            # lun1, the size of the LUN, over both paths\n"
    "  lunfs status /mnt/san\n"
    "  lunfs unmount /mnt/san\n";

}  // namespace

int main(int argc, char** argv) {
    CLI::App app(kDescription, "lunfs");
    app.require_subcommand(1);
    app.set_version_flag("--version", "lunfs 0.1.0");

    lunfs::MountCommandOptions mount;
    CLI::App* m = app.add_subcommand("mount", "Mount LUNs on a directory, one file per LUN");
    m->add_option("mountpoint", mount.mountpoint, "Directory to mount on")->required();
    m->add_option("url", mount.urls, "iscsi://[user@]host[:port]/target-iqn/lun, one per LUN")
        ->required();
    m->add_flag("-f,--foreground", mount.foreground, "Stay in the foreground, log to stderr");
    m->add_option("--name", mount.names,
                  "File name of a LUN; repeat it for each URL in order (default lun<N>)")
        ->allow_extra_args(false);
    m->add_flag("-r,--read-only", mount.read_only, "Mount read-only");
    m->add_flag("--allow-other", mount.allow_other,
                "Let other users use the mount (default: only you)");
    m->add_option("--initiator-name", mount.initiator_name, "iSCSI initiator name (IQN)")
        ->capture_default_str();
    m->add_option("--chap-secret-file", mount.chap_secret_file,
                  "File holding the CHAP secret for the URL's user (mode 0600); "
                  "else $LUNFS_CHAP_SECRET");
    m->add_option("--chap-target-user", mount.chap_target_user,
                  "Mutual CHAP: the name the target must answer with");
    m->add_option("--chap-target-secret-file", mount.chap_target_secret_file,
                  "Mutual CHAP: file holding the target's secret (mode 0600); "
                  "else $LUNFS_CHAP_TARGET_SECRET");
    m->add_option("--login-timeout", mount.login_timeout_s, "Seconds to connect and log in")
        ->capture_default_str()
        ->check(CLI::Range(1, 600));
    m->add_option("--command-timeout", mount.command_timeout_s, "Seconds for one SCSI command")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
    m->add_option("--queue-depth", mount.queue_depth, "SCSI commands in flight per session")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    m->add_option("--max-extent", mount.max_extent_kib,
                  "Largest single SCSI command, KiB (capped by the LUN's limit)")
        ->capture_default_str()
        ->check(CLI::Range(4, 16384));
    m->add_option("--policy", mount.policy,
                  "How requests use the paths: spread (every request over every live path), "
                  "round-robin, queue-depth, service-time, failover")
        ->capture_default_str();
    m->add_option("--rr-switch-every", mount.rr_switch_every,
                  "round-robin: requests per path before switching")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000000));
    m->add_option("--no-path-timeout", mount.no_path_timeout_s,
                  "Seconds I/O waits for a path when none is live, then fails (0: at once)")
        ->capture_default_str();
    m->add_option("--fuse-threads", mount.fuse_threads, "FUSE worker threads at most")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    m->add_option("--log-level", mount.log_level,
                  "trace, debug, info, warn, error, critical or off")
        ->capture_default_str();
    m->add_option("--log-file", mount.log_file, "Log here (default: stderr with -f, else syslog)");

    std::string unmount_point;
    int unmount_timeout = 60;
    CLI::App* u = app.add_subcommand("unmount", "Unmount and wait for the daemon to finish");
    u->alias("umount");
    u->add_option("mountpoint", unmount_point, "Directory a lunfs mount is on")->required();
    u->add_option("--timeout", unmount_timeout, "Seconds to wait for the daemon")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));

    std::string status_point;
    bool status_json = false;
    CLI::App* st = app.add_subcommand("status", "Show each LUN and its paths");
    st->add_option("mountpoint", status_point, "Directory a lunfs mount is on")->required();
    st->add_flag("--json", status_json, "Print the raw JSON (as in MOUNTPOINT/.lunfs/stats)");

    std::string path_verb, path_point, path_file, path_url;
    CLI::App* pc = app.add_subcommand("path", "Add or remove a path of a mounted LUN");
    pc->add_option("verb", path_verb, "add or remove")
        ->required()
        ->check(CLI::IsMember({"add", "remove"}));
    pc->add_option("mountpoint", path_point, "Directory a lunfs mount is on")->required();
    pc->add_option("file", path_file, "The LUN's file name in the mount (e.g. lun1)")->required();
    pc->add_option("url", path_url, "iscsi://host[:port]/target-iqn/lun of the path")->required();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (*m) return lunfs::RunMount(mount);
    if (*u) return lunfs::RunUnmount(unmount_point, unmount_timeout);
    if (*st) return lunfs::RunStatus(status_point, status_json);
    if (*pc) return lunfs::RunPathCommand(path_verb, path_point, path_file, path_url);
    return 2;
}
