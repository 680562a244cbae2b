#include "engine/executor.h"

#include <oneapi/tbb/task_arena.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace lunfs {

struct TbbExecutor::Arena {
    Arena(int workers, int callers) : arena(workers + callers, static_cast<unsigned>(callers)) {}
    oneapi::tbb::task_arena arena;
};

TbbExecutor::TbbExecutor(int workers, int callers)
    : arena_(std::make_unique<Arena>(std::max(1, workers), std::max(1, callers))) {}

void TbbExecutor::Run(std::function<void()> work) {
    arena_->arena.execute([&work] {
        try {
            work();
        } catch (const std::exception& e) {
            spdlog::critical("engine work threw: {}", e.what());
        } catch (...) {
            spdlog::critical("engine work threw something that is not an exception");
        }
    });
}

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
        } catch (...) {
            spdlog::critical("engine task threw something that is not an exception");
        }
        if (pending_.fetch_sub(1) == 1) {
            std::lock_guard lock(mu_);
            idle_.notify_all();
        }
    });
}

}  // namespace lunfs
