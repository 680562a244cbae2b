// Load and faults for long-running integration tests: busy loops that keep the CPUs loaded, and a
// thread that hits one random path at a time with a random fault (black hole, reset, flapping,
// slowed link), keeping a timeline of what it did and when (wall clock, to read beside a
// daemon's log). Both stop, and undo what they did, in their destructors.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace lunfs::test {

// `n` processes spinning on a CPU each (they die with this process, whatever kills it).
class BusyLoops {
  public:
    explicit BusyLoops(int n);
    ~BusyLoops();
    BusyLoops(const BusyLoops&) = delete;
    BusyLoops& operator=(const BusyLoops&) = delete;
    int running() const { return static_cast<int>(pids_.size()); }

  private:
    std::vector<pid_t> pids_;
};

// "HH:MM:SS.mmm" of the wall clock now, as the daemon's log and lunfs_check print times.
std::string WallClock();

// From its construction until Stop (or destruction), applies a random fault to one random port
// of `ports` for 1.5 to 4 s, then leaves every path healthy for 1 to 2.5 s, and so on.
class RandomPathFaults {
  public:
    RandomPathFaults(std::vector<int> ports, uint32_t seed);
    ~RandomPathFaults();
    RandomPathFaults(const RandomPathFaults&) = delete;
    RandomPathFaults& operator=(const RandomPathFaults&) = delete;
    void Stop();  // heals the fault under way and waits for the thread
    // One line per fault: "HH:MM:SS.mmm-HH:MM:SS.mmm black hole on port P"; faults that could
    // not be applied say so.
    std::string Timeline() const;
    int applied() const { return applied_.load(); }
    int failed() const { return failed_.load(); }

  private:
    void Run();
    bool Hold(std::chrono::milliseconds d);  // false once stopped
    bool Apply(int kind, int port, std::chrono::milliseconds hold);

    const std::vector<int> ports_;
    std::mt19937 random_;
    std::atomic<int> applied_{0}, failed_{0};
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;     // guarded by mu_
    std::string timeline_;  // guarded by mu_
    std::thread thread_;
};

}  // namespace lunfs::test
