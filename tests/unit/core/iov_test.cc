// Tests for core/iov.h, and for the Status and Result values of core/status.h.
#include "core/iov.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "core/status.h"

namespace lunfs {
namespace {

// Three buffers of 4, 0 and 6 bytes holding "abcd" and "efghij": ten bytes in all.
class SliceIovTest : public ::testing::Test {
  protected:
    std::string Gather(const std::vector<iovec>& iov) {
        std::string out;
        for (const iovec& v : iov) out.append(static_cast<const char*>(v.iov_base), v.iov_len);
        return out;
    }

    char first_[4] = {'a', 'b', 'c', 'd'};
    char empty_[1] = {'!'};
    char second_[6] = {'e', 'f', 'g', 'h', 'i', 'j'};
    std::vector<iovec> iov_{{first_, 4}, {empty_, 0}, {second_, 6}};
};

TEST_F(SliceIovTest, WholeRangeKeepsEveryNonEmptyBuffer) {
    std::vector<iovec> out = SliceIov(iov_, 0, 10);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].iov_base, first_);
    EXPECT_EQ(out[0].iov_len, 4u);
    EXPECT_EQ(out[1].iov_base, second_);
    EXPECT_EQ(out[1].iov_len, 6u);
}

TEST_F(SliceIovTest, RangeAcrossBuffersPointsIntoTheSameMemory) {
    std::vector<iovec> out = SliceIov(iov_, 2, 5);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].iov_base, first_ + 2);
    EXPECT_EQ(out[0].iov_len, 2u);
    EXPECT_EQ(out[1].iov_base, second_);
    EXPECT_EQ(out[1].iov_len, 3u);
    EXPECT_EQ(Gather(out), "cdefg");
}

TEST_F(SliceIovTest, RangeInsideOneBufferGivesOneEntry) {
    std::vector<iovec> out = SliceIov(iov_, 5, 3);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].iov_base, second_ + 1);
    EXPECT_EQ(out[0].iov_len, 3u);
}

TEST_F(SliceIovTest, RangeStartingOnABufferBoundarySkipsTheEarlierBuffers) {
    std::vector<iovec> out = SliceIov(iov_, 4, 6);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].iov_base, second_);
    EXPECT_EQ(out[0].iov_len, 6u);
}

TEST_F(SliceIovTest, RangeEndingOnABufferBoundaryStopsThere) {
    std::vector<iovec> out = SliceIov(iov_, 1, 3);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(Gather(out), "bcd");
}

TEST_F(SliceIovTest, LastByteAlone) {
    std::vector<iovec> out = SliceIov(iov_, 9, 1);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].iov_base, second_ + 5);
    EXPECT_EQ(Gather(out), "j");
}

TEST_F(SliceIovTest, ZeroLengthGivesAnEmptyList) {
    EXPECT_TRUE(SliceIov(iov_, 0, 0).empty());
    EXPECT_TRUE(SliceIov(iov_, 4, 0).empty());
    EXPECT_TRUE(SliceIov(iov_, 10, 0).empty());
}

TEST_F(SliceIovTest, EmptyListGivesAnEmptyList) { EXPECT_TRUE(SliceIov({}, 0, 0).empty()); }

TEST_F(SliceIovTest, ManySmallBuffersSliceByteExact) {
    std::string text = "0123456789abcdefghij";
    std::vector<iovec> iov;
    for (size_t i = 0; i < text.size(); i += 3) {
        iov.push_back(iovec{text.data() + i, std::min<size_t>(3, text.size() - i)});
    }
    for (uint64_t offset = 0; offset <= text.size(); ++offset) {
        for (uint64_t length = 0; offset + length <= text.size(); ++length) {
            EXPECT_EQ(Gather(SliceIov(iov, offset, length)), text.substr(offset, length))
                << "offset " << offset << " length " << length;
        }
    }
}

TEST(StatusTest, DefaultIsOk) {
    Status s;
    EXPECT_TRUE(s.ok());
    EXPECT_EQ(s.code(), 0);
    EXPECT_FALSE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kNone);
    EXPECT_FALSE(s.sense().has_value());
    EXPECT_EQ(s.ToString(), "ok");
    EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, FailIsNotRetryableAndDefaultsToLunScope) {
    Status s = Status::Fail(EIO, "read failed");
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), EIO);
    EXPECT_FALSE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kLun);
    EXPECT_EQ(s.message(), "read failed");
    EXPECT_FALSE(s.sense().has_value());
}

TEST(StatusTest, RetryableKeepsItsScope) {
    Status s = Status::Retryable(ETIMEDOUT, "timed out", Scope::kPath);
    EXPECT_EQ(s.code(), ETIMEDOUT);
    EXPECT_TRUE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kPath);
}

TEST(StatusTest, AtScopeChangesOnlyTheScope) {
    Status s = Status::WithSense(EAGAIN, true, Sense{2, 4, 0x0b}, "standby").AtScope(Scope::kPath);
    EXPECT_EQ(s.code(), EAGAIN);
    EXPECT_TRUE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kPath);
    EXPECT_EQ(s.sense(), (Sense{2, 4, 0x0b}));
    EXPECT_EQ(s.message(), "standby");
}

TEST(StatusTest, ToStringHasMessageAndErrnoName) {
    EXPECT_EQ(Status::Fail(EINVAL, "bad offset").ToString(), "bad offset (Invalid argument)");
}

TEST(StatusTest, ToStringHasSenseInHex) {
    Status s = Status::WithSense(EINVAL, false, Sense{0x5, 0x21, 0x00}, "write at 99");
    EXPECT_EQ(s.scope(), Scope::kLun);
    EXPECT_EQ(s.ToString(), "write at 99 (Invalid argument, sense 5/21/00)");
}

TEST(StatusTest, ToStringOfUnknownErrnoSaysSo) {
    EXPECT_EQ(Status::Fail(99999, "odd").ToString(), "odd (unknown error)");
}

TEST(ResultTest, HoldsAValue) {
    Result<int> r(42);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value(), 42);
    EXPECT_TRUE(r.status().ok());
}

TEST(ResultTest, HoldsAStatusAndNoValue) {
    Result<std::string> r(Status::Fail(ENOENT, "gone"));
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ENOENT);
    EXPECT_EQ(r.status().message(), "gone");
}

TEST(ResultTest, ValueCanBeMovedOut) {
    Result<std::vector<int>> r(std::vector<int>{1, 2, 3});
    EXPECT_EQ(r->size(), 3u);
    std::vector<int> v = std::move(r).value();
    EXPECT_EQ(v, (std::vector<int>{1, 2, 3}));
}

}  // namespace
}  // namespace lunfs
