// Where the engine runs its split, dispatch and retry work: a oneTBB arena in the daemon, the
// calling thread in tests. Work posted here never blocks on the network.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

namespace lunfs {

class Executor {
  public:
    virtual ~Executor() = default;
    // Runs `work` soon, on some thread; never inside the caller's stack for TbbExecutor.
    virtual void Post(std::function<void()> work) = 0;
};

// Runs work at once on the calling thread (deterministic tests).
class InlineExecutor final : public Executor {
  public:
    void Post(std::function<void()> work) override { work(); }
};

// A long-lived oneTBB arena of bounded concurrency; Post() enqueues a task and returns at once.
// The destructor waits for every posted task to finish.
class TbbExecutor final : public Executor {
  public:
    explicit TbbExecutor(int concurrency);
    ~TbbExecutor() override;
    void Post(std::function<void()> work) override;

  private:
    struct Arena;  // the oneTBB task_arena, kept out of this header
    std::unique_ptr<Arena> arena_;
    std::mutex mu_;
    std::condition_variable idle_;
    std::atomic<int64_t> pending_{0};
};

}  // namespace lunfs
