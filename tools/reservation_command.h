// `lunfs reservation`: a cluster's SCSI-3 persistent reservations through a lunfs mount, what
// mpathpersist does for dm-multipath. The host's key is registered on every path (I_T nexus) of
// the LUN, and on every later login of any path; reservations are taken, released and preempted
// with it (paths/target_fence.h, RegisterHostKey and HostReserveOut).
//
//   lunfs reservation MOUNTPOINT [--lun FILE] register KEY    KEY: hex, 0x optional
//   lunfs reservation MOUNTPOINT [--lun FILE] unregister      (the same as register 0)
//   lunfs reservation MOUNTPOINT [--lun FILE] reserve TYPE
//   lunfs reservation MOUNTPOINT [--lun FILE] release TYPE
//   lunfs reservation MOUNTPOINT [--lun FILE] preempt KEY TYPE
//   lunfs reservation MOUNTPOINT [--lun FILE] clear
//   lunfs reservation MOUNTPOINT [--lun FILE] show
//
// TYPE is a number (1, 3, 5, 6, 7, 8) or its name (write-exclusive-registrants-only, ...).
// reserve and preempt refuse 1 (write-exclusive) and 3 (exclusive-access): under those only the
// one I_T nexus that holds the reservation may write (3: even read), and lunfs sends every
// request over all of the LUN's paths, so the others would fail. release takes any type.
//
// The CLI writes one line, "FILE VERB ARGS" (FILE "-": the mount's only LUN), to
// MOUNTPOINT/.lunfs/reservation, whose write fails with the command's errno; reading the file
// then gives the answer (show's lines, or the error).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tools/stats_json.h"

namespace lunfs {

struct ReservationRequest {
    enum class Verb { kRegister, kReserve, kRelease, kPreempt, kClear, kShow };
    Verb verb = Verb::kShow;
    uint64_t key = 0;  // register (0: unregister), preempt (never 0)
    uint8_t type = 0;  // reserve, release, preempt
};

// The words after the mount point: a verb and its arguments. EINVAL with one line on error.
Result<ReservationRequest> ParseReservationRequest(const std::vector<std::string>& words);
// The words again, canonical ("register 0x0000000000000abc", "reserve 5").
std::string FormatReservationRequest(const ReservationRequest& request);

// The daemon's side of `.lunfs/reservation`: runs "FILE VERB ARGS" on the LUN `file` of `luns`
// ("-": the only one) and sets `answer` to what reading the file gives. Bad input (no such LUN,
// a bad line) is EINVAL or ENOENT; nothing else is.
Status RunReservationControl(std::string_view text, const std::vector<MountedLun>& luns,
                             std::string& answer);

// The CLI's side. Returns the exit code.
int RunReservationCommand(const std::string& mountpoint, const std::string& lun,
                          const std::vector<std::string>& words);

}  // namespace lunfs
