#include "engine/executor.h"

#include <oneapi/tbb/task_arena.h>
#include <spdlog/spdlog.h>

namespace lunfs {

struct TbbExecutor::Arena {
    explicit Arena(int concurrency) : arena(concurrency) {}
    oneapi::tbb::task_arena arena;
};

TbbExecutor::TbbExecutor(int concurrency) : arena_(std::make_unique<Arena>(concurrency)) {}

TbbExecutor::~TbbExecutor() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [&] { return pending_.load() == 0; });
}

void TbbExecutor::Post(std::function<void()> work) {
    pending_.fetch_add(1);
    arena_->arena.enqueue([this, work = std::move(work)] {
        try {
            work();
        } catch (const std::exception& e) {
            spdlog::critical("engine task threw: {}", e.what());
        }
        if (pending_.fetch_sub(1) == 1) {
            std::lock_guard lock(mu_);
            idle_.notify_all();
        }
    });
}

}  // namespace lunfs
