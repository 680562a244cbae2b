// The picker: how a request is shared out over the live paths, once per request.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "engine/picker.h"

namespace lunfs {
namespace {

// `n` paths of unequal speed (50, 100, 150 ... MiB/s), some with bytes already outstanding.
std::vector<PathLoad> Loads(int64_t n) {
    std::vector<PathLoad> loads;
    for (int64_t i = 0; i < n; ++i) {
        PathLoad load;
        load.path = static_cast<size_t>(i);
        load.bytes_per_second = 50.0 * (1 << 20) * static_cast<double>(i + 1);
        load.outstanding_bytes = static_cast<uint64_t>(i % 2) << 20;
        load.outstanding_ios = static_cast<uint32_t>(i % 2);
        load.priority = static_cast<int>(i);
        loads.push_back(load);
    }
    return loads;
}

void Split(benchmark::State& state, Policy policy, uint64_t length) {
    PickerOptions options;
    options.policy = policy;
    options.block_size = 512;
    Picker picker(options);
    const std::vector<PathLoad> loads = Loads(state.range(0));
    for (auto _ : state) {
        std::vector<Share> shares = picker.Split(length, loads);
        benchmark::DoNotOptimize(shares.data());
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_PickerSpread1MiB(benchmark::State& state) { Split(state, Policy::kSpread, 1 << 20); }
void BM_PickerSpread4KiB(benchmark::State& state) { Split(state, Policy::kSpread, 4 << 10); }
void BM_PickerRoundRobin1MiB(benchmark::State& state) {
    Split(state, Policy::kRoundRobin, 1 << 20);
}
void BM_PickerServiceTime1MiB(benchmark::State& state) {
    Split(state, Policy::kServiceTime, 1 << 20);
}
void BM_PickerFailover1MiB(benchmark::State& state) { Split(state, Policy::kFailover, 1 << 20); }

BENCHMARK(BM_PickerSpread1MiB)->Arg(1)->Arg(2)->Arg(4)->Arg(8);
BENCHMARK(BM_PickerSpread4KiB)->Arg(1)->Arg(4);
BENCHMARK(BM_PickerRoundRobin1MiB)->Arg(4);
BENCHMARK(BM_PickerServiceTime1MiB)->Arg(4);
BENCHMARK(BM_PickerFailover1MiB)->Arg(4);

}  // namespace
}  // namespace lunfs
