// The engine under real threads, for ThreadSanitizer as much as for the results: a pool of worker
// threads as its executor (the daemon's oneTBB arena synchronises inside a library ThreadSanitizer
// cannot see, so a plain pool stands in for it here), the ticker running on a real clock, each fake
// path completed by a thread of its own (as IscsiPath's thread would), several submitters, and a
// thread that keeps resetting paths and bringing them back. Every request must succeed and every
// byte read back be the one written.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "engine/multipath_device.h"
#include "tests/unit/fakes/fake_path.h"

namespace lunfs {
namespace {

using namespace std::chrono_literals;

constexpr uint32_t kBlock = 512;
constexpr uint64_t kRegion = 1 << 20;  // each submitter's own bytes
constexpr int kSubmitters = 4;
constexpr int kPaths = 3;

// An Executor of `n` plain threads taking work from one queue; the destructor runs what is queued
// and joins them.
class ThreadPoolExecutor final : public Executor {
  public:
    explicit ThreadPoolExecutor(int n) {
        for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Work(); });
    }
    ~ThreadPoolExecutor() override {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        for (std::thread& t : threads_) t.join();
    }
    // Like TbbExecutor: new requests are split on the submitting thread.
    void Run(std::function<void()> work) override { work(); }
    void Post(std::function<void()> work) override {
        {
            std::lock_guard lock(mu_);
            queue_.push_back(std::move(work));
        }
        cv_.notify_one();
    }

  private:
    void Work() {
        std::unique_lock lock(mu_);
        for (;;) {
            cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            if (queue_.empty()) return;
            std::function<void()> work = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            work();
            lock.lock();
        }
    }

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> queue_;  // guarded by mu_
    bool stop_ = false;                        // guarded by mu_
    std::vector<std::thread> threads_;
};

// Completes what a path holds, like its session would: ok while it is up, a lost connection
// otherwise. Stops when `stop` is set.
void ServePath(fakes::FakePath& path, const std::atomic<bool>& stop) {
    while (!stop) {
        if (path.state() == PathState::kUp) {
            path.CompleteAll(Status::Ok());
        } else {
            path.CompleteAll(Status::Retryable(ENOTCONN, "connection lost", Scope::kPath));
        }
        std::this_thread::sleep_for(100us);
    }
}

Status Run(MultipathDevice& dev, IoOp op, uint64_t offset, std::vector<uint8_t>* buffer) {
    std::promise<Status> done;
    std::vector<iovec> iov;
    if (buffer) iov.push_back({buffer->data(), buffer->size()});
    dev.Submit(
        IoRequest{op, offset, std::move(iov), [&done](Status s) { done.set_value(std::move(s)); }});
    return done.get_future().get();
}

// Writes and reads back random block ranges of its own region; returns the first problem.
std::string Submitter(MultipathDevice& dev, int index, int rounds) {
    std::mt19937 random(static_cast<uint32_t>(index));
    const uint64_t base = index * kRegion;
    for (int round = 0; round < rounds; ++round) {
        const uint64_t blocks = 1 + random() % 256;
        const uint64_t at = base + (random() % (kRegion / kBlock - blocks)) * kBlock;
        std::vector<uint8_t> data(blocks * kBlock);
        for (uint8_t& b : data) b = static_cast<uint8_t>(random());
        if (Status s = Run(dev, IoOp::kWrite, at, &data); !s.ok()) return "write: " + s.ToString();
        if (round % 8 == 0) {
            if (Status s = Run(dev, IoOp::kFlush, 0, nullptr); !s.ok())
                return "flush: " + s.ToString();
        }
        std::vector<uint8_t> back(data.size());
        if (Status s = Run(dev, IoOp::kRead, at, &back); !s.ok()) return "read: " + s.ToString();
        if (back != data) return "read back other bytes at " + std::to_string(at);
    }
    return "";
}

TEST(MultipathThreadsTest, RequestsFromManyThreadsSurvivePathsResetUnderThem) {
    auto store = std::make_shared<fakes::ByteStore>(kSubmitters * kRegion);
    const LunInfo info =
        fakes::MakeLunInfo("naa.6001405000000000000000000000000f", kBlock, store->size() / kBlock);
    std::vector<std::shared_ptr<fakes::FakePath>> paths;
    for (int i = 0; i < kPaths; ++i) {
        paths.push_back(std::make_shared<fakes::FakePath>("path" + std::to_string(i), info, store));
    }
    EngineOptions options;
    options.picker.min_share_bytes = 16 * 1024;
    options.tick = 2ms;
    options.stable_window = 20ms;
    options.stable_window_max = 80ms;
    options.no_path_timeout = 20s;
    auto dev = std::make_unique<MultipathDevice>(
        std::vector<std::shared_ptr<PathIo>>(paths.begin(), paths.end()), options,
        std::make_shared<SteadyClock>(), std::make_shared<ThreadPoolExecutor>(2));

    std::atomic<bool> stop{false};
    std::vector<std::thread> servers;
    for (auto& p : paths) servers.emplace_back(ServePath, std::ref(*p), std::cref(stop));
    std::atomic<int> resets{0};
    std::thread chaos([&] {
        std::mt19937 random(99);
        while (!stop) {
            fakes::FakePath& p = *paths[random() % kPaths];
            p.Reset("chaos");
            ++resets;
            std::this_thread::sleep_for(3ms);
            p.SetState(PathState::kUp);
            std::this_thread::sleep_for(5ms);
        }
    });

    std::vector<std::future<std::string>> submitters;
    for (int i = 0; i < kSubmitters; ++i) {
        submitters.push_back(std::async(std::launch::async, Submitter, std::ref(*dev), i, 150));
    }
    for (auto& s : submitters) EXPECT_EQ(s.get(), "");
    stop = true;
    chaos.join();
    for (auto& p : paths) p->SetState(PathState::kUp);
    dev.reset();  // closes the engine while the servers still complete what it held
    for (auto& t : servers) t.join();
    EXPECT_GT(resets.load(), 10);
}

}  // namespace
}  // namespace lunfs
