#include "paths/scsi_status.h"

#include <fmt/format.h>

#include <cerrno>

namespace lunfs {

namespace {

Status FromSense(const Sense& s, std::string_view what) {
    auto msg = [&](std::string_view meaning) { return fmt::format("{}: {}", what, meaning); };
    switch (s.key) {
        case sense_key::kNoSense:
            // CHECK CONDITION without sense data reads as this too. Either way the command did
            // not complete (a write may not be on the target, a read left its buffer unfilled):
            // a transient failure of this command, as Linux treats it.
            return Status::WithSense(EIO, true, s, msg("check condition without sense"))
                .AtScope(Scope::kExtent);
        case sense_key::kRecoveredError:
            return Status::Ok();  // completed, after the target recovered from an error
        case sense_key::kNotReady:
            if (s.asc == 0x3a)
                return Status::WithSense(ENOMEDIUM, false, s, msg("medium not present"));
            if (s.asc == 0x04 && (s.ascq == 0x0a || s.ascq == 0x0b || s.ascq == 0x0c)) {
                // ALUA transition, standby or unavailable: this port cannot serve, another may.
                return Status::WithSense(EAGAIN, true, s, msg("port not ready (ALUA state)"))
                    .AtScope(Scope::kPath);
            }
            return Status::WithSense(EAGAIN, true, s, msg("logical unit not ready"));
        case sense_key::kMediumError:
            return Status::WithSense(EIO, false, s, msg("medium error"));
        case sense_key::kHardwareError:
            return Status::WithSense(EIO, false, s, msg("hardware error"));
        case sense_key::kIllegalRequest:
            if (s.asc == 0x21) return Status::WithSense(EINVAL, false, s, msg("LBA out of range"));
            if (s.asc == 0x25) return Status::WithSense(ENXIO, false, s, msg("LUN not supported"));
            if (s.asc == 0x20)
                return Status::WithSense(EOPNOTSUPP, false, s, msg("command not supported"));
            return Status::WithSense(EINVAL, false, s, msg("illegal request"));
        case sense_key::kUnitAttention:
            return Status::WithSense(EAGAIN, true, s, msg("unit attention"));
        case sense_key::kDataProtect:
            return Status::WithSense(EROFS, false, s, msg("write protected"));
        case sense_key::kAbortedCommand:
            return Status::WithSense(EIO, true, s, msg("command aborted by the target"));
        case sense_key::kMiscompare:
            return Status::WithSense(EILSEQ, false, s, msg("miscompare"));
        default:
            return Status::WithSense(EIO, false, s, msg("check condition"));
    }
}

}  // namespace

Status ClassifyScsi(uint32_t status, const Sense& sense, std::string_view what) {
    auto msg = [&](std::string_view meaning) { return fmt::format("{}: {}", what, meaning); };
    switch (static_cast<ScsiStatus>(status)) {
        case ScsiStatus::kGood:
        case ScsiStatus::kConditionMet:
            return Status::Ok();
        case ScsiStatus::kCheckCondition:
            return FromSense(sense, what);
        case ScsiStatus::kBusy:
            return Status::Retryable(EBUSY, msg("target busy"), Scope::kExtent);
        case ScsiStatus::kTaskSetFull:
            return Status::Retryable(EAGAIN, msg("task set full"), Scope::kExtent);
        case ScsiStatus::kAcaActive:
            return Status::Retryable(EAGAIN, msg("ACA active"), Scope::kExtent);
        case ScsiStatus::kTaskAborted:
            return Status::Retryable(ECANCELED, msg("task aborted by the target"), Scope::kExtent);
        case ScsiStatus::kReservationConflict:
            return Status::Fail(EBADE, msg("reservation conflict"));
        case ScsiStatus::kRedirect:
            return Status::Retryable(EHOSTUNREACH, msg("target redirected the session"),
                                     Scope::kPath);
        case ScsiStatus::kCancelled:
            return Status::Retryable(ECANCELED, msg("cancelled, the session is going away"),
                                     Scope::kPath);
        case ScsiStatus::kTransportError:
            return Status::Retryable(ENOTCONN, msg("connection failed"), Scope::kPath);
        case ScsiStatus::kTimeout:
            return Status::Retryable(ETIMEDOUT, msg("timed out"), Scope::kPath);
    }
    return Status::Fail(EIO, fmt::format("{}: unknown SCSI status {:#x}", what, status));
}

bool HoldsSense(const uint8_t* segment, size_t size) {
    if (!segment || size < 3) return false;
    const size_t length = size_t{segment[0]} << 8 | segment[1];
    if (length == 0 || size < 2 + length) return false;
    switch (segment[2] & 0x7f) {
        case 0x70:  // fixed format: key in byte 2, ASC and ASCQ in bytes 12 and 13
        case 0x71:
            return length >= 14;
        case 0x72:  // descriptor format: key, ASC, ASCQ in bytes 1 to 3
        case 0x73:
            return length >= 4;
    }
    return false;
}

bool IsCapacityChanged(const Sense& sense) {
    return sense.key == sense_key::kUnitAttention && sense.asc == 0x2a && sense.ascq == 0x09;
}

}  // namespace lunfs
