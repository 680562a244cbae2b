#include "tools/reservation_command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "paths/reservation.h"
#include "paths/target_fence.h"
#include "tools/exit_codes.h"

namespace lunfs {

namespace {

constexpr const char* kReservationVerbs =
    "register KEY, unregister, reserve TYPE, release TYPE, preempt KEY TYPE, clear or show";

Status ReservationUsage(const std::string& what) { return Status::Fail(EINVAL, what); }

Result<uint8_t> ReservationHeldType(const std::string& text) {
    Result<uint8_t> type = ParseReservationType(text);
    if (!type.ok()) return type;
    if (type.value() == reserve::kWriteExclusive || type.value() == reserve::kExclusiveAccess) {
        return Status::Fail(
            EINVAL,
            fmt::format("type {} ({}) lets only the one path that holds it {}; lunfs "
                        "sends over every path of the LUN: use a registrants type (5, "
                        "6, 7 or 8)",
                        type.value(), ReservationTypeSlug(type.value()),
                        type.value() == reserve::kWriteExclusive ? "write" : "read or write"));
    }
    return type;
}

}  // namespace

Result<ReservationRequest> ParseReservationRequest(const std::vector<std::string>& words) {
    if (words.empty())
        return ReservationUsage(
            fmt::format("a reservation command is needed: {}", kReservationVerbs));
    const std::string& verb = words[0];
    const size_t args = words.size() - 1;
    auto want = [&](size_t n, const char* shape) -> Status {
        if (args == n) return Status::Ok();
        return ReservationUsage(fmt::format("usage: reservation MOUNTPOINT {}", shape));
    };
    ReservationRequest r;
    if (verb == "register") {
        if (Status s = want(1, "register KEY (hex; 0 unregisters)"); !s.ok()) return s;
        Result<uint64_t> key = ParseReservationKey(words[1]);
        if (!key.ok()) return key.status();
        r.verb = ReservationRequest::Verb::kRegister;
        r.key = key.value();
    } else if (verb == "unregister") {
        if (Status s = want(0, "unregister"); !s.ok()) return s;
        r.verb = ReservationRequest::Verb::kRegister;
    } else if (verb == "reserve" || verb == "release") {
        if (Status s = want(1, verb == "reserve" ? "reserve TYPE" : "release TYPE"); !s.ok()) {
            return s;
        }
        Result<uint8_t> type =
            verb == "reserve" ? ReservationHeldType(words[1]) : ParseReservationType(words[1]);
        if (!type.ok()) return type.status();
        r.verb = verb == "reserve" ? ReservationRequest::Verb::kReserve
                                   : ReservationRequest::Verb::kRelease;
        r.type = type.value();
    } else if (verb == "preempt") {
        if (Status s = want(2, "preempt KEY TYPE"); !s.ok()) return s;
        Result<uint64_t> key = ParseReservationKey(words[1]);
        if (!key.ok()) return key.status();
        // PREEMPT with key 0 means something else again (an all-registrants reservation's
        // holders); not offered.
        if (key.value() == 0)
            return ReservationUsage("preempt needs the key of a registration, not 0");
        Result<uint8_t> type = ReservationHeldType(words[2]);
        if (!type.ok()) return type.status();
        r.verb = ReservationRequest::Verb::kPreempt;
        r.key = key.value();
        r.type = type.value();
    } else if (verb == "clear" || verb == "show") {
        if (Status s = want(0, verb.c_str()); !s.ok()) return s;
        r.verb =
            verb == "clear" ? ReservationRequest::Verb::kClear : ReservationRequest::Verb::kShow;
    } else {
        return ReservationUsage(
            fmt::format("unknown reservation command '{}' ({})", verb, kReservationVerbs));
    }
    return r;
}

std::string FormatReservationRequest(const ReservationRequest& r) {
    switch (r.verb) {
        case ReservationRequest::Verb::kRegister:
            return fmt::format("register {:#018x}", r.key);
        case ReservationRequest::Verb::kReserve:
            return fmt::format("reserve {}", r.type);
        case ReservationRequest::Verb::kRelease:
            return fmt::format("release {}", r.type);
        case ReservationRequest::Verb::kPreempt:
            return fmt::format("preempt {:#018x} {}", r.key, r.type);
        case ReservationRequest::Verb::kClear:
            return "clear";
        case ReservationRequest::Verb::kShow:
            return "show";
    }
    return "";
}

Status RunReservationControl(std::string_view text, const std::vector<MountedLun>& luns,
                             std::string& answer) {
    std::istringstream in{std::string(text)};
    std::string file;
    std::vector<std::string> words;
    in >> file;
    for (std::string w; in >> w;) words.push_back(w);
    auto fail = [&](Status s) {
        answer = s.message() + "\n";
        return s;
    };
    Result<ReservationRequest> request = ParseReservationRequest(words);
    if (!request.ok()) return fail(request.status());
    const MountedLun* lun = nullptr;
    if (file == "-") {
        if (luns.size() != 1) {
            return fail(Status::Fail(ENOENT, fmt::format("the mount has {} LUNs: name one with "
                                                         "--lun FILE",
                                                         luns.size())));
        }
        lun = &luns.front();
    } else {
        auto it = std::find_if(luns.begin(), luns.end(),
                               [&](const MountedLun& m) { return m.file == file; });
        if (it == luns.end()) {
            return fail(Status::Fail(ENOENT, fmt::format("no LUN file '{}' in the mount", file)));
        }
        lun = &*it;
    }
    if (!lun->fence) {
        return fail(Status::Fail(EOPNOTSUPP, lun->file + ": the LUN has no fence to send with"));
    }
    TargetFence& fence = *lun->fence;
    const ReservationRequest& r = request.value();
    Status s;
    switch (r.verb) {
        case ReservationRequest::Verb::kShow: {
            Result<std::string> shown = fence.ShowReservations();
            if (!shown.ok())
                return fail(Status::Fail(shown.status().code(),
                                         lun->file + ": " + shown.status().message()));
            answer = shown.value();
            return Status::Ok();
        }
        case ReservationRequest::Verb::kRegister:
            s = fence.RegisterHostKey(r.key);
            break;
        case ReservationRequest::Verb::kReserve:
            s = fence.HostReserveOut(reserve::kReserve, r.type, 0);
            break;
        case ReservationRequest::Verb::kRelease:
            s = fence.HostReserveOut(reserve::kRelease, r.type, 0);
            break;
        case ReservationRequest::Verb::kPreempt:
            s = fence.HostReserveOut(reserve::kPreempt, r.type, r.key);
            break;
        case ReservationRequest::Verb::kClear:
            s = fence.HostReserveOut(reserve::kClear, 0, 0);
            break;
    }
    if (!s.ok()) {
        // Only the checks above are bad input: whatever the target or the paths said is not.
        const int code = s.code() == EINVAL || s.code() == ENOENT ? EIO : s.code();
        return fail(Status::Fail(code, lun->file + ": " + s.message()));
    }
    answer = "ok\n";
    return Status::Ok();
}

int RunReservationCommand(const std::string& mountpoint, const std::string& lun,
                          const std::vector<std::string>& words) {
    Result<ReservationRequest> request = ParseReservationRequest(words);
    if (!request.ok()) {
        std::fprintf(stderr, "lunfs: %s\n", request.status().message().c_str());
        return kExitBadInput;
    }
    if (!lun.empty() && (lun.find_first_of(" \t\n/") != std::string::npos || lun == "-")) {
        std::fprintf(stderr, "lunfs: '%s' is not a LUN file name\n", lun.c_str());
        return kExitBadInput;
    }
    const std::string control = mountpoint + "/.lunfs/reservation";
    const int fd = open(control.c_str(), O_WRONLY);
    if (fd < 0) {
        std::fprintf(stderr, "lunfs: %s is not a lunfs mount (%s)\n", mountpoint.c_str(),
                     std::strerror(errno));
        return kExitBadInput;
    }
    const std::string command =
        fmt::format("{} {}\n", lun.empty() ? "-" : lun, FormatReservationRequest(request.value()));
    const ssize_t n = write(fd, command.data(), command.size());
    const int err = errno;
    close(fd);
    std::string answer;
    {
        std::ifstream in(control);
        std::stringstream s;
        s << in.rdbuf();
        answer = s.str();
    }
    if (n == static_cast<ssize_t>(command.size())) {
        if (request.value().verb == ReservationRequest::Verb::kShow) {
            std::fputs(answer.c_str(), stdout);
        }
        return 0;
    }
    while (!answer.empty() && answer.back() == '\n') answer.pop_back();
    if (answer.empty() || answer == "ok") answer = std::strerror(err);
    std::fprintf(stderr, "lunfs: reservation %s: %s\n", words[0].c_str(), answer.c_str());
    return err == EINVAL || err == ENOENT ? kExitBadInput : kExitFailed;
}

}  // namespace lunfs
