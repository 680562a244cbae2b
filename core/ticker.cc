#include "core/ticker.h"

namespace lunfs {

Ticker::Ticker(Duration period, std::function<void()> tick)
    : period_(period), tick_(std::move(tick)), thread_(&Ticker::Run, this) {}

Ticker::~Ticker() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void Ticker::Run() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, period_, [this] { return stop_; })) {
        lock.unlock();
        tick_();
        lock.lock();
    }
}

}  // namespace lunfs
