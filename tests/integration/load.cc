#include "tests/integration/load.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <ctime>

#include "tests/integration/faults.h"

namespace lunfs::test {

BusyLoops::BusyLoops(int n) {
    for (int i = 0; i < n; ++i) {
        const pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            volatile uint64_t x = 0;
            for (;;) {
                const uint64_t v = x;
                x = v + 1;
            }
        }
        if (pid > 0) pids_.push_back(pid);
    }
}

BusyLoops::~BusyLoops() {
    for (pid_t pid : pids_) kill(pid, SIGKILL);
    for (pid_t pid : pids_) waitpid(pid, nullptr, 0);
}

std::string WallClock() {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
    const time_t secs = static_cast<time_t>(ms / 1000);
    struct tm tm {};
    localtime_r(&secs, &tm);
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms % 1000));
    return buf;
}

RandomPathFaults::RandomPathFaults(std::vector<int> ports, uint32_t seed)
    : ports_(std::move(ports)), random_(seed), thread_(&RandomPathFaults::Run, this) {}

RandomPathFaults::~RandomPathFaults() { Stop(); }

void RandomPathFaults::Stop() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

std::string RandomPathFaults::Timeline() const {
    std::lock_guard lock(mu_);
    return timeline_;
}

bool RandomPathFaults::Hold(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return stop_; });
}

bool RandomPathFaults::Apply(int kind, int port, std::chrono::milliseconds hold) {
    using namespace std::chrono_literals;
    switch (kind) {
        case 0:
        case 1: {
            PortFault fault({port}, kind == 0);
            Hold(hold);
            return fault.ok();
        }
        case 2: {
            PortFlapper flapper({port}, 1s, 1s);
            Hold(hold);
            return flapper.ok();
        }
        default: {
            PortSlow slow({port}, 2000);  // waits while another test's cap is on lo
            Hold(hold);
            return slow.ok();
        }
    }
}

void RandomPathFaults::Run() {
    static const char* const kNames[] = {"black hole", "reset", "flapping", "slowed to 2 Mbit/s"};
    auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(random_); };
    while (Hold(std::chrono::milliseconds(1000 + pick(1500)))) {
        const int kind = pick(4);
        const int port = ports_[static_cast<size_t>(pick(static_cast<int>(ports_.size())))];
        const std::string from = WallClock();
        const bool ok = Apply(kind, port, std::chrono::milliseconds(1500 + pick(2500)));
        (ok ? applied_ : failed_)++;
        std::lock_guard lock(mu_);
        timeline_ += from + "-" + WallClock() + " " + kNames[kind] + " on port " +
                     std::to_string(port) + (ok ? "" : " (could not be applied)") + "\n";
    }
}

}  // namespace lunfs::test
