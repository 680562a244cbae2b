// lunfs: mount iSCSI LUNs as files, in user space.
#include <functional>

#include "tools/cli.h"

int main(int argc, char** argv) {
    // mount.fuse3 (mount -t fuse.lunfs, /etc/fstab) runs `lunfs SOURCE MOUNTPOINT -o OPTIONS`.
    if (lunfs::IsMountHelperCall(argc, argv)) return lunfs::RunMountHelper(argc, argv);
    std::function<int()> run;
    std::unique_ptr<CLI::App> app = lunfs::BuildCli(run);
    try {
        app->parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app->exit(e) == 0 ? 0 : 2;
    }
    return run ? run() : 2;
}
