#include "paths/scsi_status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>

namespace lunfs {
namespace {

constexpr uint32_t Code(ScsiStatus s) { return static_cast<uint32_t>(s); }

Status CheckCondition(uint8_t key, uint8_t asc, uint8_t ascq) {
    return ClassifyScsi(Code(ScsiStatus::kCheckCondition), Sense{key, asc, ascq}, "read at 8");
}

TEST(ClassifyScsiTest, GoodIsOk) {
    Status s = ClassifyScsi(Code(ScsiStatus::kGood), Sense{}, "read at 8");
    EXPECT_TRUE(s.ok());
    EXPECT_EQ(s.scope(), Scope::kNone);
}

TEST(ClassifyScsiTest, GoodIgnoresStaleSense) {
    EXPECT_TRUE(
        ClassifyScsi(Code(ScsiStatus::kGood), Sense{sense_key::kMediumError, 0x11, 0}, "read at 8")
            .ok());
}

TEST(ClassifyScsiTest, BusyIsRetryableForTheExtent) {
    Status s = ClassifyScsi(Code(ScsiStatus::kBusy), Sense{}, "read at 8");
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), EBUSY);
    EXPECT_TRUE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kExtent);
    EXPECT_EQ(s.message(), "read at 8: target busy");
}

TEST(ClassifyScsiTest, TaskSetFullIsRetryableForTheExtent) {
    Status s = ClassifyScsi(Code(ScsiStatus::kTaskSetFull), Sense{}, "write at 0");
    EXPECT_EQ(s.code(), EAGAIN);
    EXPECT_TRUE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kExtent);
    EXPECT_EQ(s.message(), "write at 0: task set full");
}

TEST(ClassifyScsiTest, UnitAttentionIsRetryableAndKeepsSense) {
    Status s = CheckCondition(sense_key::kUnitAttention, 0x29, 0x00);  // power on / reset
    EXPECT_EQ(s.code(), EAGAIN);
    EXPECT_TRUE(s.retryable());
    EXPECT_EQ(s.sense(), (Sense{sense_key::kUnitAttention, 0x29, 0x00}));
}

TEST(ClassifyScsiTest, CapacityChangedIsAUnitAttentionToReReadCapacity) {
    const Sense changed{sense_key::kUnitAttention, 0x2a, 0x09};
    EXPECT_TRUE(IsCapacityChanged(changed));
    Status s = CheckCondition(changed.key, changed.asc, changed.ascq);
    EXPECT_TRUE(s.retryable());
    EXPECT_EQ(s.sense(), changed);
}

TEST(ClassifyScsiTest, OtherSenseIsNotCapacityChanged) {
    EXPECT_FALSE(IsCapacityChanged(Sense{sense_key::kUnitAttention, 0x2a, 0x01}));  // mode params
    EXPECT_FALSE(IsCapacityChanged(Sense{sense_key::kUnitAttention, 0x29, 0x09}));
    EXPECT_FALSE(IsCapacityChanged(Sense{sense_key::kIllegalRequest, 0x2a, 0x09}));
    EXPECT_FALSE(IsCapacityChanged(Sense{}));
}

TEST(ClassifyScsiTest, CheckConditionWithoutSenseIsARetryableFailureOfTheExtent) {
    // libiscsi reports a CHECK CONDITION without sense data as all-zero sense; a target may also
    // send sense key NO SENSE. The command did not complete either way.
    struct Case {
        Sense sense;
        const char* name;
    };
    for (const Case& c : {Case{Sense{}, "no sense data"},
                          Case{Sense{sense_key::kNoSense, 0x00, 0x06}, "NO SENSE, I/O end"},
                          Case{Sense{sense_key::kNoSense, 0x00, 0x00}, "NO SENSE"}}) {
        SCOPED_TRACE(c.name);
        Status s = CheckCondition(c.sense.key, c.sense.asc, c.sense.ascq);
        EXPECT_FALSE(s.ok());
        EXPECT_EQ(s.code(), EIO);
        EXPECT_TRUE(s.retryable());
        EXPECT_EQ(s.scope(), Scope::kExtent);
        EXPECT_EQ(s.sense(), c.sense);
    }
    EXPECT_EQ(CheckCondition(0, 0, 0).message(), "read at 8: check condition without sense");
}

TEST(ClassifyScsiTest, RecoveredErrorIsOk) {
    EXPECT_TRUE(CheckCondition(sense_key::kRecoveredError, 0x17, 0x01).ok());
}

TEST(ClassifyScsiTest, LbaOutOfRangeIsEinvalAndFinal) {
    Status s = CheckCondition(sense_key::kIllegalRequest, 0x21, 0x00);
    EXPECT_EQ(s.code(), EINVAL);
    EXPECT_FALSE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kLun);
    EXPECT_EQ(s.sense(), (Sense{sense_key::kIllegalRequest, 0x21, 0x00}));
    EXPECT_EQ(s.message(), "read at 8: LBA out of range");
    EXPECT_EQ(s.ToString(), "read at 8: LBA out of range (Invalid argument, sense 5/21/00)");
}

TEST(ClassifyScsiTest, OtherIllegalRequestsMapToTheirErrno) {
    EXPECT_EQ(CheckCondition(sense_key::kIllegalRequest, 0x25, 0x00).code(), ENXIO);
    EXPECT_EQ(CheckCondition(sense_key::kIllegalRequest, 0x20, 0x00).code(), EOPNOTSUPP);
    Status other = CheckCondition(sense_key::kIllegalRequest, 0x24, 0x00);  // bad CDB field
    EXPECT_EQ(other.code(), EINVAL);
    EXPECT_FALSE(other.retryable());
}

TEST(ClassifyScsiTest, DataProtectIsReadOnlyFileSystem) {
    Status s = CheckCondition(sense_key::kDataProtect, 0x27, 0x00);
    EXPECT_EQ(s.code(), EROFS);
    EXPECT_FALSE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kLun);
}

TEST(ClassifyScsiTest, MediumErrorIsEioAndNotRetryable) {
    Status s = CheckCondition(sense_key::kMediumError, 0x11, 0x00);  // unrecovered read error
    EXPECT_EQ(s.code(), EIO);
    EXPECT_FALSE(s.retryable());
    EXPECT_EQ(s.sense(), (Sense{sense_key::kMediumError, 0x11, 0x00}));
}

TEST(ClassifyScsiTest, HardwareErrorIsEioAndNotRetryable) {
    Status s = CheckCondition(sense_key::kHardwareError, 0x44, 0x00);
    EXPECT_EQ(s.code(), EIO);
    EXPECT_FALSE(s.retryable());
}

TEST(ClassifyScsiTest, TimeoutIsRetryableOnAnotherPath) {
    Status s = ClassifyScsi(Code(ScsiStatus::kTimeout), Sense{}, "read at 8");
    EXPECT_EQ(s.code(), ETIMEDOUT);
    EXPECT_TRUE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kPath);
    EXPECT_FALSE(s.sense().has_value());
}

TEST(ClassifyScsiTest, TransportErrorIsRetryableOnAnotherPath) {
    Status s = ClassifyScsi(Code(ScsiStatus::kTransportError), Sense{}, "read at 8");
    EXPECT_EQ(s.code(), ENOTCONN);
    EXPECT_TRUE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kPath);
}

TEST(ClassifyScsiTest, CancelledIsRetryableOnAnotherPath) {
    Status s = ClassifyScsi(Code(ScsiStatus::kCancelled), Sense{}, "read at 8");
    EXPECT_EQ(s.code(), ECANCELED);
    EXPECT_TRUE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kPath);
}

TEST(ClassifyScsiTest, RedirectIsRetryableOnAnotherPath) {
    Status s = ClassifyScsi(Code(ScsiStatus::kRedirect), Sense{}, "read at 8");
    EXPECT_TRUE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kPath);
}

TEST(ClassifyScsiTest, AluaStandbyIsRetryableOnAnotherPathWithSenseKept) {
    Status s = CheckCondition(sense_key::kNotReady, 0x04, 0x0b);
    EXPECT_EQ(s.code(), EAGAIN);
    EXPECT_TRUE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kPath);
    EXPECT_EQ(s.sense(), (Sense{sense_key::kNotReady, 0x04, 0x0b}));
}

TEST(ClassifyScsiTest, AluaTransitionAndUnavailableAreRetryableOnAnotherPath) {
    EXPECT_EQ(CheckCondition(sense_key::kNotReady, 0x04, 0x0a).scope(), Scope::kPath);
    EXPECT_EQ(CheckCondition(sense_key::kNotReady, 0x04, 0x0c).scope(), Scope::kPath);
}

TEST(ClassifyScsiTest, PlainNotReadyIsRetryableForTheLun) {
    Status s = CheckCondition(sense_key::kNotReady, 0x04, 0x01);  // becoming ready
    EXPECT_EQ(s.code(), EAGAIN);
    EXPECT_TRUE(s.retryable());
    EXPECT_EQ(s.scope(), Scope::kLun);
}

TEST(ClassifyScsiTest, MediumNotPresentIsFinal) {
    Status s = CheckCondition(sense_key::kNotReady, 0x3a, 0x00);
    EXPECT_EQ(s.code(), ENOMEDIUM);
    EXPECT_FALSE(s.retryable());
}

TEST(ClassifyScsiTest, ReservationConflictIsFinal) {
    Status s = ClassifyScsi(Code(ScsiStatus::kReservationConflict), Sense{}, "write at 0");
    EXPECT_EQ(s.code(), EBADE);
    EXPECT_FALSE(s.retryable());
}

TEST(ClassifyScsiTest, AbortedCommandIsRetryable) {
    Status s = CheckCondition(sense_key::kAbortedCommand, 0x00, 0x00);
    EXPECT_EQ(s.code(), EIO);
    EXPECT_TRUE(s.retryable());
}

TEST(ClassifyScsiTest, MiscompareIsEilseq) {
    EXPECT_EQ(CheckCondition(sense_key::kMiscompare, 0x1d, 0x00).code(), EILSEQ);
}

TEST(ClassifyScsiTest, UnknownSenseKeyIsEio) {
    Status s = CheckCondition(0x9, 0x00, 0x00);  // vendor specific
    EXPECT_EQ(s.code(), EIO);
    EXPECT_FALSE(s.retryable());
}

TEST(ClassifyScsiTest, UnknownStatusIsEioWithTheValueInTheMessage) {
    Status s = ClassifyScsi(0x99, Sense{}, "read at 8");
    EXPECT_EQ(s.code(), EIO);
    EXPECT_FALSE(s.retryable());
    EXPECT_EQ(s.message(), "read at 8: unknown SCSI status 0x99");
}

}  // namespace
}  // namespace lunfs

namespace lunfs {
namespace {

// libiscsi parses sense data out of whatever a CHECK CONDITION carried, even nothing: only what
// arrived may be read (a read past its buffer once made a CHECK CONDITION without sense look like
// COPY ABORTED, a final error, now and then).
TEST(HoldsSenseTest, OnlySenseDataThatArrivedWholeCounts) {
    EXPECT_FALSE(HoldsSense(nullptr, 0));
    const uint8_t none[] = {0, 0};
    EXPECT_FALSE(HoldsSense(none, sizeof(none)));
    uint8_t fixed[2 + 18] = {0, 18, 0x70, 0, 0x06};
    EXPECT_TRUE(HoldsSense(fixed, sizeof(fixed)));
    EXPECT_FALSE(HoldsSense(fixed, 10)) << "cut short";
    const uint8_t short_fixed[2 + 8] = {0, 8, 0x70, 0, 0x06};
    EXPECT_FALSE(HoldsSense(short_fixed, sizeof(short_fixed))) << "no room for ASC and ASCQ";
    const uint8_t descriptor[2 + 8] = {0, 8, 0x72, 0x06, 0x29, 0x00};
    EXPECT_TRUE(HoldsSense(descriptor, sizeof(descriptor)));
    const uint8_t junk[2 + 4] = {0, 4, 0x10, 1, 2, 3};
    EXPECT_FALSE(HoldsSense(junk, sizeof(junk)));
}

}  // namespace
}  // namespace lunfs
