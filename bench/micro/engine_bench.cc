// One request through the multipath engine, paths answering at once: what the engine itself costs
// per request (split, dispatch, completion, reassembly), with no wire and no target behind it.
#include <benchmark/benchmark.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/executor.h"
#include "engine/multipath_device.h"
#include "paths/path_io.h"

namespace lunfs {
namespace {

// A path that completes every command as soon as its own thread picks it up, moving no bytes.
class InstantPath final : public PathIo {
  public:
    InstantPath(std::string name, LunInfo info)
        : name_(std::move(name)), info_(std::move(info)), thread_([this] { Run(); }) {}
    ~InstantPath() override {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }

    void Submit(PathCommand command) override {
        {
            std::lock_guard lock(mu_);
            queue_.push_back(std::move(command));
        }
        cv_.notify_one();
    }
    PathState state() const override { return PathState::kUp; }
    const LunInfo& info() const override { return info_; }
    const std::string& name() const override { return name_; }
    const PathCounters& counters() const override { return counters_; }
    void SetStateListener(StateListener listener) override { listener_ = std::move(listener); }
    void Reset(std::string) override {}

  private:
    void Run() {
        std::unique_lock lock(mu_);
        for (;;) {
            cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
            if (queue_.empty()) return;
            PathCommand command = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            command.done(Status::Ok());
            lock.lock();
        }
    }

    const std::string name_;
    const LunInfo info_;
    PathCounters counters_;
    StateListener listener_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<PathCommand> queue_;  // guarded by mu_
    bool stop_ = false;              // guarded by mu_
    std::thread thread_;
};

LunInfo Info() {
    LunInfo info;
    info.identity = "naa.bench";
    info.capacity.block_size = 512;
    info.capacity.blocks = uint64_t{1} << 22;  // 2 GiB
    return info;
}

// range(0) paths, range(1) bytes per request, one request at a time.
void BM_EngineRequest(benchmark::State& state) {
    std::vector<std::shared_ptr<PathIo>> paths;
    for (int64_t i = 0; i < state.range(0); ++i) {
        paths.push_back(std::make_shared<InstantPath>("path" + std::to_string(i), Info()));
    }
    EngineOptions options;
    options.start_ticker = false;
    MultipathDevice device(std::move(paths), options, std::make_shared<SteadyClock>(),
                           std::make_shared<InlineExecutor>());
    std::vector<char> buffer(static_cast<size_t>(state.range(1)));
    std::mutex mu;
    std::condition_variable cv;
    uint64_t offset = 0;
    for (auto _ : state) {
        bool done = false;
        IoRequest request;
        request.op = IoOp::kRead;
        request.offset = offset;
        request.iov = {{buffer.data(), buffer.size()}};
        request.done = [&](Status) {
            std::lock_guard lock(mu);
            done = true;
            cv.notify_one();
        };
        device.Submit(std::move(request));
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return done; });
        offset = (offset + buffer.size()) % (uint64_t{1} << 30);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * state.range(1));
}
BENCHMARK(BM_EngineRequest)->Args({1, 4096})->Args({1, 1 << 20})->Args({4, 1 << 20})->UseRealTime();

}  // namespace
}  // namespace lunfs
