// The fixture the MultipathDevice tests share: one fake LUN of 16 MiB in 512-byte blocks reached by
// FakePaths over a shared ByteStore, a FakeClock, and the engine with its ticker off (tests call
// Tick() themselves) on an InlineExecutor unless a test installs another.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/multipath_device.h"
#include "tests/unit/fakes/fake_clock.h"
#include "tests/unit/fakes/fake_path.h"

namespace lunfs {

// What a request's callback saw.
struct Outcome {
    int calls = 0;
    Status status;
};

class MultipathFixture : public ::testing::Test {
  protected:
    static constexpr uint32_t kBlock = 512;
    static constexpr uint64_t kLunBlocks = 32768;  // 16 MiB
    static constexpr uint64_t kKiB = 1024;
    static constexpr uint64_t kMiB = 1024 * kKiB;
    static constexpr const char* kIdentity = "naa.60014050000000000000000000000001";

    static EngineOptions Options() {
        EngineOptions o;
        o.start_ticker = false;
        o.picker.policy = Policy::kSpread;
        o.picker.min_share_bytes = 64 * kKiB;
        o.max_extent_bytes = 1 << 20;
        o.max_write_extent_bytes = 1 << 20;  // writes cut like reads unless a test says so
        o.no_path_timeout = std::chrono::seconds(30);
        o.deadline_floor = std::chrono::seconds(1);
        o.deadline_ceiling = std::chrono::seconds(30);
        o.stable_window = std::chrono::seconds(2);
        o.stable_window_max = std::chrono::seconds(60);
        return o;
    }

    // A path over the shared store to this LUN, or to another LUN of `identity`.
    std::shared_ptr<fakes::FakePath> MakePath(const std::string& name,
                                              PathState state = PathState::kUp,
                                              const std::string& identity = kIdentity) {
        LunInfo info = fakes::MakeLunInfo(identity, kBlock, kLunBlocks, max_transfer_blocks_);
        if (adjust_info_) adjust_info_(info);
        return std::make_shared<fakes::FakePath>(name, std::move(info), store_, state);
    }

    // Starts the engine over `n` fresh paths named path0, path1, ..., all up.
    void Start(size_t n, EngineOptions options = Options()) {
        for (size_t i = 0; i < n; ++i) paths_.push_back(MakePath("path" + std::to_string(i)));
        std::vector<std::shared_ptr<PathIo>> ios(paths_.begin(), paths_.end());
        dev_ =
            std::make_unique<MultipathDevice>(std::move(ios), options, clock_, executor_, fencer_);
    }

    std::shared_ptr<Outcome> Submit(IoOp op, uint64_t offset, std::vector<iovec> iov) {
        auto outcome = std::make_shared<Outcome>();
        dev_->Submit(IoRequest{op, offset, std::move(iov), [outcome](Status s) {
                                   ++outcome->calls;
                                   outcome->status = std::move(s);
                               }});
        return outcome;
    }
    std::shared_ptr<Outcome> Read(uint64_t offset, std::vector<uint8_t>& buffer) {
        return Submit(IoOp::kRead, offset, {iovec{buffer.data(), buffer.size()}});
    }
    std::shared_ptr<Outcome> Write(uint64_t offset, std::vector<uint8_t>& buffer) {
        return Submit(IoOp::kWrite, offset, {iovec{buffer.data(), buffer.size()}});
    }
    std::shared_ptr<Outcome> Flush() { return Submit(IoOp::kFlush, 0, {}); }
    std::shared_ptr<Outcome> Discard(uint64_t offset, uint64_t length) {
        auto outcome = std::make_shared<Outcome>();
        IoRequest r{IoOp::kDiscard, offset, {}, nullptr};
        r.discard_length = length;
        r.done = [outcome](Status s) {
            ++outcome->calls;
            outcome->status = std::move(s);
        };
        dev_->Submit(std::move(r));
        return outcome;
    }

    // How a command fails when its path's connection broke.
    static Status PathDropped() {
        return Status::Retryable(ECONNRESET, "connection reset", Scope::kPath);
    }

    // Bytes that differ from block to block and from one seed to another.
    static std::vector<uint8_t> Pattern(uint64_t length, uint8_t seed) {
        std::vector<uint8_t> out(length);
        for (uint64_t i = 0; i < length; ++i) {
            out[i] = static_cast<uint8_t>(seed + i + 13 * (i / kBlock));
        }
        return out;
    }

    size_t PendingEverywhere() const {
        size_t n = 0;
        for (const auto& p : paths_) n += p->Pending();
        return n;
    }
    // The engine's view of path `index` (in the order Stats() lists them).
    PathStats StatsOf(size_t index) const { return dev_->Stats().paths.at(index); }

    uint32_t max_transfer_blocks_ = 0;           // set before Start()
    std::function<void(LunInfo&)> adjust_info_;  // set before Start(): what the paths report
    std::shared_ptr<fakes::FakeClock> clock_ = std::make_shared<fakes::FakeClock>();
    std::shared_ptr<Executor> executor_ = std::make_shared<InlineExecutor>();
    std::shared_ptr<Fencer> fencer_;  // set before Start(); none: the timed fence
    std::shared_ptr<fakes::ByteStore> store_ =
        std::make_shared<fakes::ByteStore>(kLunBlocks * kBlock);
    std::vector<std::shared_ptr<fakes::FakePath>> paths_;
    std::unique_ptr<MultipathDevice> dev_;
};

}  // namespace lunfs
