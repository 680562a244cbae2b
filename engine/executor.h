// Where the engine runs its split, dispatch and retry work: a oneTBB arena in the daemon, the
// calling thread in tests. Work run or posted here never blocks on the network.
//
// Two ways in. Run() is for a new request arriving on a thread that is not the engine's (a FUSE
// worker): it executes the work inside the arena on the calling thread, so a request costs no
// hand-off to another thread and wakes no worker (on a machine with few cores, a woken TBB
// worker spins for milliseconds looking for more work, taking CPU from the paths and the
// target). Post() is for work that must leave the caller's stack: retries and sends decided on a
// path's thread, which must get back to its session at once.
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
    // Runs `work` within the executor's bounds, on the calling thread when it can (TbbExecutor
    // always does, waiting for a free slot of the arena if none is).
    virtual void Run(std::function<void()> work) = 0;
    // Runs `work` soon, on some thread; never inside the caller's stack for TbbExecutor.
    virtual void Post(std::function<void()> work) = 0;
};

// Runs work at once on the calling thread (deterministic tests).
class InlineExecutor final : public Executor {
  public:
    void Run(std::function<void()> work) override { work(); }
    void Post(std::function<void()> work) override { work(); }
};

// A long-lived oneTBB arena: `workers` slots for TBB's worker threads, which run posted tasks,
// and `callers` slots for threads that Run() work in it. Post() enqueues a task and returns at
// once. The destructor waits for every posted task to finish. Whatever work throws is caught and
// logged (work must not throw: nothing else would answer what it was doing), and it counts as
// finished.
class TbbExecutor final : public Executor {
  public:
    TbbExecutor(int workers, int callers);
    ~TbbExecutor() override;
    void Run(std::function<void()> work) override;
    void Post(std::function<void()> work) override;

  private:
    struct Arena;  // the oneTBB task_arena, kept out of this header
    std::unique_ptr<Arena> arena_;
    std::mutex mu_;
    std::condition_variable idle_;
    std::atomic<int64_t> pending_{0};
};

}  // namespace lunfs
