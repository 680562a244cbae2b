// FakeClock and ManualExecutor: time and work that a test steps by hand.
//
// FakeClock starts well after the clock's epoch (the engine reads TimePoint{} as "not set") and
// moves only when the test calls Advance(). ManualExecutor keeps posted work until the test runs
// it, so a test can stop between a request's submission and its split, or between a failure and
// its retry. Both are thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <utility>

#include "core/clock.h"
#include "engine/executor.h"

namespace lunfs::fakes {

class FakeClock final : public Clock {
  public:
    static constexpr TimePoint kStart = TimePoint{} + std::chrono::hours(1);

    TimePoint Now() const override {
        std::lock_guard lock(mu_);
        return now_;
    }
    void Advance(Duration by) {
        std::lock_guard lock(mu_);
        now_ += by;
    }
    Duration Elapsed() const { return Now() - kStart; }

  private:
    mutable std::mutex mu_;
    TimePoint now_ = kStart;  // guarded by mu_
};

// Keeps run and posted work alike until the test steps it.
class ManualExecutor final : public Executor {
  public:
    void Run(std::function<void()> work) override { Post(std::move(work)); }
    void Post(std::function<void()> work) override {
        std::lock_guard lock(mu_);
        queue_.push_back(std::move(work));
    }
    size_t Queued() const {
        std::lock_guard lock(mu_);
        return queue_.size();
    }
    // Runs the oldest posted work; false when there is none. Runs it with no lock held.
    bool RunNext() {
        std::function<void()> work;
        {
            std::lock_guard lock(mu_);
            if (queue_.empty()) return false;
            work = std::move(queue_.front());
            queue_.pop_front();
        }
        work();
        return true;
    }
    // Runs work until none is left, including work that running it posts. Returns how much.
    size_t RunAll() {
        size_t n = 0;
        while (RunNext()) ++n;
        return n;
    }

  private:
    mutable std::mutex mu_;
    std::deque<std::function<void()>> queue_;  // guarded by mu_
};

}  // namespace lunfs::fakes
