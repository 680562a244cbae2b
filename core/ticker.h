// Ticker: a thread of its own that calls a function every `period` until the Ticker is
// destroyed. The destructor wakes the thread at once and waits for a call under way to return,
// so an owner destroys its Ticker before whatever the function touches.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "core/clock.h"

namespace lunfs {

class Ticker {
  public:
    Ticker(Duration period, std::function<void()> tick);
    ~Ticker();
    Ticker(const Ticker&) = delete;
    Ticker& operator=(const Ticker&) = delete;

  private:
    void Run();

    const Duration period_;
    const std::function<void()> tick_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;  // guarded by mu_
    std::thread thread_;
};

}  // namespace lunfs
