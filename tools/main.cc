// lunfs: mount iSCSI LUNs as files, in user space.
#include <cstdio>
#include <functional>
#include <string_view>

#include "tools/cli.h"
#include "tools/cli_errors.h"
#include "tools/exit_codes.h"

int main(int argc, char** argv) {
    // mount.fuse3 (mount -t fuse.lunfs, /etc/fstab) runs `lunfs SOURCE MOUNTPOINT -o OPTIONS`.
    if (lunfs::IsMountHelperCall(argc, argv)) return lunfs::RunMountHelper(argc, argv);
    char help[] = "--help";
    if (argc >= 2 && std::string_view(argv[1]) == "help") argv[1] = help;  // lunfs help
    std::function<int()> run;
    std::unique_ptr<CLI::App> app = lunfs::BuildCli(run);
    if (lunfs::Status s = lunfs::CheckCommandWord(*app, argc, argv); !s.ok()) {
        std::fprintf(stderr, "lunfs: %s\n", s.message().c_str());
        return lunfs::kExitBadInput;
    }
    try {
        app->parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return lunfs::ReportParseError(*app, e, argc, argv);
    }
    return run ? run() : lunfs::kExitBadInput;
}
