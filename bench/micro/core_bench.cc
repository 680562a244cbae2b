// Per-request helpers: slicing a request's memory into extents, ordering overlapping writes,
// and the per-path measurements every completion updates.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "core/iov.h"
#include "core/range_lock.h"
#include "engine/path_slot.h"

namespace lunfs {
namespace {

// A 1 MiB request as FUSE hands it over (4 KiB pages), cut into `range(0)` equal extents.
void BM_SliceIov1MiB(benchmark::State& state) {
    static char memory[1 << 20];
    std::vector<iovec> iov;
    for (size_t off = 0; off < sizeof(memory); off += 4096) iov.push_back({memory + off, 4096});
    const uint64_t parts = static_cast<uint64_t>(state.range(0));
    const uint64_t part = (1 << 20) / parts;
    for (auto _ : state) {
        for (uint64_t i = 0; i < parts; ++i) {
            std::vector<iovec> slice = SliceIov(iov, i * part, part);
            benchmark::DoNotOptimize(slice.data());
        }
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SliceIov1MiB)->Arg(1)->Arg(4)->Arg(16);

// A write's range lock taken and given back while `range(0)` other writes hold ranges elsewhere.
void BM_RangeLockAcquireRelease(benchmark::State& state) {
    RangeLock lock;
    std::vector<RangeLock::Ticket> held;
    for (int64_t i = 0; i < state.range(0); ++i) {
        const uint64_t begin = static_cast<uint64_t>(i + 1) << 20;
        lock.Acquire(begin, begin + 4096, [&held](RangeLock::Ticket t) { held.push_back(t); });
    }
    for (auto _ : state) {
        RangeLock::Ticket mine = 0;
        lock.Acquire(0, 1 << 20, [&mine](RangeLock::Ticket t) { mine = t; });
        lock.Release(mine);
    }
    for (RangeLock::Ticket t : held) lock.Release(t);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RangeLockAcquireRelease)->Arg(0)->Arg(8)->Arg(64);

// What the engine does per completed extent: fold it into the path's latency and throughput.
void BM_PathSlotSentCompleted(benchmark::State& state) {
    PathSlot slot;
    TimePoint now{};
    for (auto _ : state) {
        slot.Sent(256 << 10, now);
        now += std::chrono::microseconds(1300);
        slot.Completed(256 << 10, std::chrono::microseconds(1300), now, true);
    }
    benchmark::DoNotOptimize(slot.bytes_per_second);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PathSlotSentCompleted);

void BM_LatencyP99(benchmark::State& state) {
    LatencyHistogram histogram;
    for (int i = 0; i < 100000; ++i) histogram.Add(std::chrono::microseconds(50 + (i * 37) % 5000));
    for (auto _ : state) benchmark::DoNotOptimize(histogram.Percentile(0.99));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LatencyP99);

}  // namespace
}  // namespace lunfs
