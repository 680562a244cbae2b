// Helpers shared by the tests of lunfs's operator commands (discover, config, status, metrics,
// copy, mount helper).
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/integration/harness.h"

namespace lunfs::test {

inline std::string Lunfs() { return LunfsBinary(); }

// Runs `command` and returns its stdout alone (stderr dropped) with its exit code.
inline CommandResult Stdout(const std::string& command) {
    return Shell("{ " + command + " 2>/dev/null; }");
}

inline void WriteText(const std::string& path, const std::string& text, mode_t mode = 0644) {
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
}

// Parses JSON, or returns a discarded value (is_discarded()).
inline nlohmann::json Json(const std::string& text) {
    return nlohmann::json::parse(text, nullptr, false);
}

inline bool Mounted(const std::string& mountpoint) {
    return ReadText("/proc/mounts").find(" " + mountpoint + " ") != std::string::npos;
}

// True while `pid` runs (a zombie has finished its work and does not count).
inline bool Alive(int pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string skip, state;
    if (!(stat >> skip >> skip >> state)) return false;
    return state != "Z";
}

// Unmounts `mountpoint` on destruction if it is still mounted, so a failed assertion leaves no
// mount behind.
class UnmountGuard {
  public:
    explicit UnmountGuard(std::string mountpoint) : mountpoint_(std::move(mountpoint)) {}
    ~UnmountGuard() {
        if (Mounted(mountpoint_)) {
            Shell(LunfsBinary() + " unmount " + mountpoint_ + " || umount -l " + mountpoint_);
        }
    }

  private:
    std::string mountpoint_;
};

// Polls `done` every 100 ms for up to `limit`; true once it holds.
template <typename F>
bool WaitFor(F done, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
}

}  // namespace lunfs::test
