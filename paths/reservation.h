// Persistent reservations (SPC-4 5.13): the keys lunfs registers for its sessions, and parsers
// for what PERSISTENT RESERVE IN answers.
//
// Why: a target keeps executing what a failed session had handed to its backend, whatever the
// initiator does on its side (docs/fencing-research.md). With every session of a LUN registered
// under a key of its own, and a Write Exclusive – Registrants Only reservation held by one of
// them, a live session can PREEMPT a failed session's key: from then on the target refuses
// every command of that session with RESERVATION CONFLICT (paths/target_fence.h).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "paths/scsi_pages.h"

namespace lunfs {

namespace reserve {
// PERSISTENT RESERVE IN service actions.
constexpr uint8_t kReadKeys = 0x00;
constexpr uint8_t kReadReservation = 0x01;
constexpr uint8_t kReportCapabilities = 0x02;
// PERSISTENT RESERVE OUT service actions.
constexpr uint8_t kRegister = 0x00;
constexpr uint8_t kReserve = 0x01;
constexpr uint8_t kRelease = 0x02;
constexpr uint8_t kClear = 0x03;
constexpr uint8_t kPreempt = 0x04;
constexpr uint8_t kRegisterIgnoringKey = 0x06;  // REGISTER AND IGNORE EXISTING KEY
// Reservation types.
constexpr uint8_t kWriteExclusive = 0x01;
constexpr uint8_t kExclusiveAccess = 0x03;
// Write Exclusive – Registrants Only: every registered session may write, no other. Chosen over
// the all-registrants types, whose holder tgtd mishandles when it is preempted
// (docs/fencing-research.md).
constexpr uint8_t kWriteExclusiveRegistrantsOnly = 0x05;
constexpr uint8_t kExclusiveAccessRegistrantsOnly = 0x06;
constexpr uint8_t kWriteExclusiveAllRegistrants = 0x07;
constexpr uint8_t kExclusiveAccessAllRegistrants = 0x08;
}  // namespace reserve

const char* ReservationTypeName(uint8_t type);
// The name `lunfs reservation` takes and shows: "write-exclusive-registrants-only"; "" for a
// type that is none of 1, 3, 5, 6, 7, 8.
const char* ReservationTypeSlug(uint8_t type);

// A reservation key as a user types it: hex, with or without 0x, 1 to 16 digits. 0 is a valid
// key here (it means "no key"); callers that need a real one check.
Result<uint64_t> ParseReservationKey(std::string_view text);
// A reservation type by number (1, 3, 5, 6, 7, 8) or by slug (ReservationTypeSlug).
Result<uint8_t> ParseReservationType(std::string_view text);

// READ KEYS: the generation and every registered key (one per registered I_T nexus).
struct RegisteredKeys {
    uint32_t generation = 0;
    std::vector<uint64_t> keys;
};
Result<RegisteredKeys> ParseReadKeys(Bytes data);

// READ RESERVATION: the holder's key and the type, when a reservation exists.
struct ReservationHolder {
    uint64_t key = 0;
    uint8_t type = 0;
};
Result<std::optional<ReservationHolder>> ParseReadReservation(Bytes data);

// REPORT CAPABILITIES: which reservation types the LUN supports (a target that answers without
// the type mask, TMV 0, is taken to support none it does not say).
struct ReservationCapabilities {
    bool type_mask_valid = false;
    uint16_t type_mask = 0;  // bit per type as in SPC-4 table 172 (byte 4 then byte 5)
    bool Supports(uint8_t type) const;
};
Result<ReservationCapabilities> ParseReportCapabilities(Bytes data);

// The keys of one lunfs process (or, made with ForHostKey, one host key; see below): 0x4C46 ("LF"),
// 16 bits of the host (a hash of the initiator name), 16 bits of the process id, then a counter:
// every session that logs in registers a key never used before by this process. A key of a session
// that is up (or logging in) is live; every other key of this process that the target still holds
// belongs to a session that failed and is to be preempted. Thread-safe.
class ReservationKeys {
  public:
    ReservationKeys(const std::string& initiator_name, uint32_t pid);

    // Host-key mode (`lunfs reservation register`): every session that logs in registers `key`,
    // the key of this host in a cluster, instead of a fresh key of its own, so several sessions
    // share one key. Claim() returns `key`; Live() holds it while a session that claimed it has
    // not retired it (claims are counted). Key 0 registers nothing: REGISTER with 0 removes
    // whatever the session's I_T nexus had, and is a no-op on a new one. A session of a host
    // key unregisters it when it logs out cleanly (UnregisterAtLogout).
    static std::shared_ptr<ReservationKeys> ForHostKey(uint64_t key);

    // A fresh key (the host key in host-key mode), live from now on: call it before the
    // session registers it.
    uint64_t Claim();
    // The session of `key` is gone (failed or closed); from now on the key is stale (a host key:
    // once every session that claimed it retired it).
    void Retire(uint64_t key);
    std::set<uint64_t> Live() const;

    bool host_mode() const { return host_mode_; }
    uint64_t host_key() const { return host_key_; }
    // A session that logs out cleanly removes its registration first (host keys other than 0):
    // its I_T nexus ends, and a registration left behind would keep nothing out and, on a target
    // that counts a new login as a new nexus (tgtd), only pile up.
    bool UnregisterAtLogout() const { return host_mode_ && host_key_ != 0; }

    // Of this process.
    bool Ours(uint64_t key) const { return !host_mode_ && (key >> 16) == prefix_; }
    // Of lunfs on this host (any process).
    bool OfThisHost(uint64_t key) const { return !host_mode_ && (key >> 32) == (prefix_ >> 16); }
    // The process id a key of lunfs on this host carries (16 bits of it).
    static uint32_t ProcessOf(uint64_t key) { return static_cast<uint32_t>((key >> 16) & 0xffff); }
    static bool OfLunfs(uint64_t key) { return (key >> 48) == 0x4c46; }

  private:
    explicit ReservationKeys(uint64_t host_key);

    const uint64_t prefix_;  // the top 48 bits
    const bool host_mode_ = false;
    const uint64_t host_key_ = 0;
    mutable std::mutex mu_;
    uint32_t next_ = 1;         // guarded by mu_
    std::set<uint64_t> live_;   // guarded by mu_
    uint32_t host_claims_ = 0;  // guarded by mu_: host-key mode, sessions holding it
};

}  // namespace lunfs
