// Discards through the engine: which command a LUN gets, how ranges are cut, and ordering.
#include <gtest/gtest.h>

#include <cerrno>

#include "tests/unit/engine/multipath_fixture.h"

namespace lunfs {
namespace {

class MultipathDiscardTest : public MultipathFixture {
  protected:
    // A thin LUN offering UNMAP (reading zeros afterwards) and WRITE SAME with UNMAP.
    void Thin(bool unmap, bool unmapped_zero, bool write_same, uint32_t max_unmap_blocks) {
        adjust_info_ = [=](LunInfo& info) {
            info.capacity.thin = true;
            info.provisioning.unmap = unmap;
            info.provisioning.unmapped_zero = unmapped_zero;
            info.provisioning.write_same_unmap = write_same;
            info.limits.max_unmap_blocks = max_unmap_blocks;
        };
    }
};

TEST_F(MultipathDiscardTest, ALunThatIsNotThinRefusesDiscardsWithEopnotsupp) {
    Start(2);
    EXPECT_FALSE(dev_->CanDiscard());
    auto d = Discard(0, kMiB);
    ASSERT_EQ(d->calls, 1);
    EXPECT_EQ(d->status.code(), EOPNOTSUPP);
    EXPECT_EQ(PendingEverywhere(), 0u);
}

TEST_F(MultipathDiscardTest, UnmapIsUsedOnlyWhereUnmappedBlocksReadAsZeros) {
    Thin(true, false, false, 2048);
    Start(1);
    EXPECT_FALSE(dev_->CanDiscard());  // UNMAP alone could leave old data readable
}

TEST_F(MultipathDiscardTest, UnmapCommandsAreCutAtTheLunsLimitAndZeroTheRange) {
    Thin(true, true, true, 2048);  // 1 MiB per UNMAP
    Start(2);
    std::vector<uint8_t> data = Pattern(4 * kMiB, 3);
    Write(0, data);
    for (const auto& p : paths_) p->CompleteAll();
    auto d = Discard(512 * kKiB, 3 * kMiB);
    std::vector<std::pair<uint64_t, uint32_t>> commands;
    for (const auto& p : paths_) {
        for (const auto& c : p->PendingCommands()) {
            EXPECT_EQ(c.kind, CommandKind::kUnmap);
            EXPECT_TRUE(c.iov.empty());
            commands.emplace_back(c.lba, c.blocks);
        }
    }
    std::sort(commands.begin(), commands.end());
    EXPECT_EQ(commands, (std::vector<std::pair<uint64_t, uint32_t>>{
                            {1024, 2048}, {3072, 2048}, {5120, 2048}}));
    for (const auto& p : paths_) p->CompleteAll();
    ASSERT_EQ(d->calls, 1);
    EXPECT_TRUE(d->status.ok());
    std::vector<uint8_t> back(4 * kMiB);
    Read(0, back);
    for (const auto& p : paths_) p->CompleteAll();
    std::vector<uint8_t> expected = data;
    std::fill(expected.begin() + 512 * kKiB, expected.begin() + 512 * kKiB + 3 * kMiB, 0);
    EXPECT_EQ(back, expected);
    EXPECT_EQ(StatsOf(0).counters.discards + StatsOf(1).counters.discards, 3u);
    EXPECT_EQ(StatsOf(0).in_flight_bytes + StatsOf(1).in_flight_bytes, 0u);
}

TEST_F(MultipathDiscardTest, WriteSameWithUnmapIsUsedWhereUnmapWouldNotReadAsZeros) {
    Thin(true, false, true, 2048);
    Start(1);
    EXPECT_TRUE(dev_->CanDiscard());
    auto d = Discard(0, 64 * kKiB);
    ASSERT_EQ(paths_[0]->Pending(), 1u);
    EXPECT_EQ(paths_[0]->At(0).kind, CommandKind::kWriteSameUnmap);
    EXPECT_EQ(paths_[0]->At(0).blocks, 128u);
    paths_[0]->CompleteAll();
    EXPECT_TRUE(d->status.ok());
}

TEST_F(MultipathDiscardTest, ADiscardWaitsForAnEarlierOverlappingWriteAndALaterWriteForIt) {
    Thin(true, true, false, 2048);
    Start(1);
    std::vector<uint8_t> first = Pattern(64 * kKiB, 1), second = Pattern(64 * kKiB, 2);
    auto w1 = Write(0, first);
    auto d = Discard(0, 64 * kKiB);
    auto w2 = Write(0, second);
    ASSERT_EQ(paths_[0]->Pending(), 1u);  // only the first write is out
    EXPECT_EQ(paths_[0]->At(0).kind, CommandKind::kWrite);
    paths_[0]->CompleteAll();
    ASSERT_EQ(paths_[0]->Pending(), 1u);
    EXPECT_EQ(paths_[0]->At(0).kind, CommandKind::kUnmap);
    paths_[0]->CompleteAll();
    ASSERT_EQ(paths_[0]->Pending(), 1u);
    EXPECT_EQ(paths_[0]->At(0).kind, CommandKind::kWrite);
    paths_[0]->CompleteAll();
    EXPECT_EQ(w1->calls + d->calls + w2->calls, 3);
    std::vector<uint8_t> back(64 * kKiB);
    Read(0, back);
    paths_[0]->CompleteAll();
    EXPECT_EQ(back, second);
}

}  // namespace
}  // namespace lunfs
