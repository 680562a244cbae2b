#include "tools/unmount_command.h"

#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

namespace lunfs {

namespace {

// The daemon's pid from the mount's control directory, or 0.
pid_t DaemonPid(const std::string& mountpoint) {
    std::ifstream in(mountpoint + "/.lunfs/pid");
    long pid = 0;
    if (!(in >> pid) || pid <= 0) return 0;
    return static_cast<pid_t>(pid);
}

bool Running(pid_t pid) {
    if (kill(pid, 0) != 0) return false;
    // A zombie waits only for its parent: it serves nothing any more.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string skip, state;
    stat >> skip >> skip >> state;
    return state != "Z";
}

int Fusermount(const std::string& mountpoint) {
    const pid_t child = fork();
    if (child == 0) {
        execlp("fusermount3", "fusermount3", "-u", "--", mountpoint.c_str(), nullptr);
        _exit(127);
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

int RunUnmount(const std::string& mountpoint, int timeout_s) {
    const pid_t pid = DaemonPid(mountpoint);
    if (pid == 0) {
        std::fprintf(stderr, "lunfs: %s is not a lunfs mount\n", mountpoint.c_str());
        return 1;
    }
    // root unmounts directly; other users go through the setuid helper, which checks that
    // they own the mount.
    if (geteuid() == 0) {
        if (umount2(mountpoint.c_str(), 0) != 0) {
            std::fprintf(stderr, "lunfs: cannot unmount %s: %s\n", mountpoint.c_str(),
                         std::strerror(errno));
            return 1;
        }
    } else if (Fusermount(mountpoint) != 0) {
        std::fprintf(stderr, "lunfs: fusermount3 -u %s failed\n", mountpoint.c_str());
        return 1;
    }
    // The daemon flushes and logs out after the unmount; wait for it so that the LUN is free
    // for the next mount when we return.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (Running(pid)) {
        if (std::chrono::steady_clock::now() > deadline) {
            std::fprintf(stderr, "lunfs: unmounted %s, but daemon %d is still running after %d s\n",
                         mountpoint.c_str(), pid, timeout_s);
            return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return 0;
}

}  // namespace lunfs
