// The checker's own judgement, block by block: what a read may find given the ledger.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/integration/checker/ledger.h"
#include "tests/integration/checker/stamp.h"
#include "tests/integration/checker/verify.h"

namespace lunfs::check {
namespace {

constexpr uint64_t kRun = 77;

class VerifierTest : public ::testing::Test {
  protected:
    // Four blocks from block 10: 10 and 11 of writer 0, 12 and 13 of writer 1.
    VerifierTest() : ledger_(10, {0, 0, 1, 1}, kRun) {}

    void Write(uint64_t block, uint64_t gen, bool acknowledged) {
        ledger_.Issue(block, 1, gen);
        if (acknowledged) ledger_.Ack(block, 1, gen);
        ledger_.Log({gen, ledger_.Owner(block), 1, block, 0, 0, acknowledged ? 0 : 5, 0});
    }
    // How many blocks a read of `block` holding `data` violates, with the ledger as it is now.
    uint64_t Judge(uint64_t block, const std::vector<char>& data) {
        Verifier v(ledger_, "test");
        const Window w{ledger_.Floor(block), ledger_.Issued(block)};
        return v.Check({block, 1, 0, 0}, data.data(), &w);
    }
    static std::vector<char> Block(uint64_t block, uint32_t writer, uint64_t gen,
                                   uint64_t run = kRun) {
        std::vector<char> out(kBlock);
        Encode({block, writer, gen, run}, out.data());
        return out;
    }

    Ledger ledger_;
};

TEST_F(VerifierTest, AcceptsTheLastAcknowledgedGeneration) {
    Write(10, 3, true);
    EXPECT_EQ(Judge(10, Block(10, 0, 3)), 0u);
}

TEST_F(VerifierTest, RejectsAnOlderGeneration) {
    Write(10, 3, true);
    Write(10, 8, true);
    EXPECT_EQ(Judge(10, Block(10, 0, 3)), 1u);
}

TEST_F(VerifierTest, AcceptsZerosOnlyInABlockNeverWritten) {
    EXPECT_EQ(Judge(11, std::vector<char>(kBlock)), 0u);
    Write(11, 4, true);
    EXPECT_EQ(Judge(11, std::vector<char>(kBlock)), 1u);
}

TEST_F(VerifierTest, AcceptsEitherVersionAfterAFailedWriteUntilARewrite) {
    Write(12, 2, true);
    Write(12, 5, false);
    EXPECT_EQ(Judge(12, Block(12, 1, 2)), 0u);
    EXPECT_EQ(Judge(12, Block(12, 1, 5)), 0u);
    Write(12, 9, true);
    EXPECT_EQ(Judge(12, Block(12, 1, 2)), 1u);
    EXPECT_EQ(Judge(12, Block(12, 1, 5)), 1u);
}

TEST_F(VerifierTest, RejectsAnotherBlocksWriterOrRunsStamp) {
    Write(13, 6, true);
    EXPECT_EQ(Judge(13, Block(12, 1, 6)), 1u);            // another block's
    EXPECT_EQ(Judge(13, Block(13, 0, 6)), 1u);            // a writer that does not own it
    EXPECT_EQ(Judge(13, Block(13, 1, 6, kRun + 1)), 1u);  // an earlier run's
}

TEST_F(VerifierTest, RejectsATornOrCorruptBlock) {
    Write(10, 3, true);
    std::vector<char> torn = Block(10, 0, 3);
    torn[400] ^= 1;
    EXPECT_EQ(Decode(torn.data()).found, Found::kTorn);
    EXPECT_EQ(Judge(10, torn), 1u);
    std::vector<char> corrupt = Block(10, 0, 3);
    corrupt[20] ^= 1;  // the header: the checksum fails
    EXPECT_EQ(Decode(corrupt.data()).found, Found::kGarbage);
    EXPECT_EQ(Judge(10, corrupt), 1u);
}

TEST_F(VerifierTest, AcceptsAMixOfBothVersionsOnlyWhileAWriteIsInFlight) {
    Write(10, 3, true);
    ledger_.Issue(10, 1, 8);  // in flight
    std::vector<char> mixed = Block(10, 0, 3);
    const std::vector<char> newer = Block(10, 0, 8);
    std::copy(newer.begin() + 256, newer.end(), mixed.begin() + 256);
    const Blend b = Provenance(mixed.data(), {10, 0, 3, kRun}, {10, 0, 8, kRun});
    EXPECT_TRUE(b.both);
    EXPECT_EQ(b.parts, "bytes 0-255 of gen 3, 256-511 of gen 8");
    EXPECT_EQ(Judge(10, mixed), 0u);
    ledger_.Ack(10, 1, 8);
    EXPECT_EQ(Judge(10, mixed), 1u);
}

TEST(LedgerTest, SavedAndLoadedLedgerKeepsFloorsAndRecords) {
    Ledger ledger(4, {0, 1}, kRun);
    ledger.Issue(4, 1, 7);
    ledger.Ack(4, 1, 7);
    ledger.Issue(5, 1, 9);
    ledger.Log({7, 0, 1, 4, 100, 200, 0, 0});
    const std::string path = ::testing::TempDir() + "/ledger";
    ASSERT_TRUE(ledger.Save(path));
    std::string error;
    const std::unique_ptr<Ledger> loaded = Ledger::Load(path, error);
    std::remove(path.c_str());
    ASSERT_TRUE(loaded) << error;
    EXPECT_EQ(loaded->run(), kRun);
    EXPECT_EQ(loaded->Floor(4), 7u);
    EXPECT_EQ(loaded->Floor(5), 0u);
    EXPECT_EQ(loaded->Issued(5), 9u);
    EXPECT_EQ(loaded->Owner(5), 1u);
    ASSERT_TRUE(loaded->Find(7));
    EXPECT_EQ(loaded->Find(7)->done_us, 200);
}

}  // namespace
}  // namespace lunfs::check
