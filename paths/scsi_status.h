// The one place that decides what a SCSI or transport outcome means for lunfs: ok, worth
// retrying (here or on another path), or a failure to hand to the application with an errno.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace lunfs {

// SCSI status bytes (SAM-5) and the transport outcomes libiscsi reports in the same field.
enum class ScsiStatus : uint32_t {
    kGood = 0x00,
    kCheckCondition = 0x02,
    kConditionMet = 0x04,
    kBusy = 0x08,
    kReservationConflict = 0x18,
    kTaskSetFull = 0x28,
    kAcaActive = 0x30,
    kTaskAborted = 0x40,
    kRedirect = 0x101,             // libiscsi: target asked us to log in elsewhere
    kCancelled = 0x0f000000,       // libiscsi: the task was cancelled locally
    kTransportError = 0x0f000001,  // libiscsi: the connection failed under the task
    kTimeout = 0x0f000002,         // libiscsi: no answer within the command timeout
};

// Sense keys (SPC-5).
namespace sense_key {
inline constexpr uint8_t kNoSense = 0x0;
inline constexpr uint8_t kRecoveredError = 0x1;
inline constexpr uint8_t kNotReady = 0x2;
inline constexpr uint8_t kMediumError = 0x3;
inline constexpr uint8_t kHardwareError = 0x4;
inline constexpr uint8_t kIllegalRequest = 0x5;
inline constexpr uint8_t kUnitAttention = 0x6;
inline constexpr uint8_t kDataProtect = 0x7;
inline constexpr uint8_t kAbortedCommand = 0xb;
inline constexpr uint8_t kMiscompare = 0xe;
}  // namespace sense_key

// Classifies the outcome of one command; `what` names it for the message ("read of 8 blocks at
// 1024"). `sense` is used only with kCheckCondition; CHECK CONDITION with no sense data (all
// zeros, as libiscsi reports it) or sense key NO SENSE is a retryable kExtent-scope failure, never
// ok: the command did not complete.
Status ClassifyScsi(uint32_t status, const Sense& sense, std::string_view what);

// True for the UNIT ATTENTION that says the capacity changed (2A/09): re-read it.
bool IsCapacityChanged(const Sense& sense);

// Whether what a CHECK CONDITION carried (in iSCSI: a 2-byte length, then the sense bytes) holds
// sense data long enough to have a key, ASC and ASCQ. libiscsi parses sense out of it whatever
// arrived, even nothing (it then reads past its buffer): only sense that arrived counts.
bool HoldsSense(const uint8_t* segment, size_t size);

}  // namespace lunfs
