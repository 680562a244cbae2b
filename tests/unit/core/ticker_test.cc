#include "core/ticker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

namespace lunfs {
namespace {

using namespace std::chrono_literals;

TEST(TickerTest, CallsItsFunctionAgainAndAgainAndNeverAfterItIsDestroyed) {
    std::atomic<int> calls{0};
    auto ticker = std::make_unique<Ticker>(1ms, [&] { ++calls; });
    for (int i = 0; i < 5000 && calls < 3; ++i) std::this_thread::sleep_for(1ms);
    EXPECT_GE(calls.load(), 3);
    ticker.reset();
    const int at_destruction = calls;
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(calls.load(), at_destruction);
}

TEST(TickerTest, DestructionWaitsForACallUnderWay) {
    std::atomic<bool> in_call{false}, finished{false};
    auto ticker = std::make_unique<Ticker>(1ms, [&] {
        if (finished) return;
        in_call = true;
        std::this_thread::sleep_for(50ms);
        finished = true;
    });
    for (int i = 0; i < 5000 && !in_call; ++i) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(in_call);
    ticker.reset();
    EXPECT_TRUE(finished);
}

TEST(TickerTest, ALongPeriodDoesNotHoldUpDestruction) {
    int calls = 0;
    const auto start = std::chrono::steady_clock::now();
    {
        Ticker ticker(std::chrono::hours(1), [&] { ++calls; });
    }
    EXPECT_EQ(calls, 0);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::minutes(1));
}

}  // namespace
}  // namespace lunfs
