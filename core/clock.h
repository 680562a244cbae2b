// Time as the engine and the cache see it, so that tests can step it by hand.
#pragma once

#include <chrono>

namespace lunfs {

using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

class Clock {
  public:
    virtual ~Clock() = default;
    virtual TimePoint Now() const = 0;  // thread-safe
};

class SteadyClock final : public Clock {
  public:
    TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace lunfs
