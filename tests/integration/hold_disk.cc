#include "tests/integration/hold_disk.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "tests/integration/harness.h"

namespace lunfs::test {

namespace {
bool WriteLine(const std::string& path, const std::string& line) {
    std::ofstream out(path);
    out << line << "\n";
    out.flush();
    return static_cast<bool>(out);
}
}  // namespace

HoldDisk::HoldDisk(const std::string& dir, uint64_t size) : dir_(dir) {
    mkdir(dir.c_str(), 0755);
    mkdir((dir + "/disk").c_str(), 0755);
    if (truncate(Store().c_str(), 0) != 0) std::ofstream(Store()).flush();
    if (truncate(Store().c_str(), static_cast<off_t>(size)) != 0) {
        error_ = "cannot create " + Store();
        return;
    }
    const CommandResult r =
        Shell(HoldFsBinary() + " " + Store() + " " + dir + "/disk " + dir + "/holdfs.pid");
    mounted_ = r.exit_code == 0;
    if (!mounted_) {
        error_ = r.output;
        return;
    }
    // The daemon writes its pid file just after the mount is up.
    for (int i = 0; i < 100 && pid_ == 0; ++i) {
        std::ifstream(dir + "/holdfs.pid") >> pid_;
        if (pid_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ok_ = pid_ > 0 && Held() == 0;
    if (!ok_) error_ = "lunfs_test_holdfs did not come up";
}

HoldDisk::~HoldDisk() {
    if (mounted_) {
        Release();
        if (Shell("fusermount3 -u '" + dir_ + "/disk'").exit_code != 0) {
            Shell("umount -l '" + dir_ + "/disk'");
        }
    }
    if (pid_ > 0) {
        for (int i = 0; i < 50 && kill(pid_, 0) == 0; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        kill(pid_, SIGKILL);
    }
}

bool HoldDisk::Hold(uint64_t offset, uint64_t length, int count) {
    return WriteLine(dir_ + "/disk/ctl", "hold " + std::to_string(offset) + " " +
                                             std::to_string(length) + " " + std::to_string(count));
}

bool HoldDisk::Release() { return WriteLine(dir_ + "/disk/ctl", "release"); }

int HoldDisk::Held() const {
    const std::string text = ReadText(dir_ + "/disk/ctl");
    if (text.rfind("held=", 0) != 0) return -1;
    return std::atoi(text.c_str() + 5);
}

}  // namespace lunfs::test
