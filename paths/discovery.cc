// Discovery over libiscsi: one short-lived session at a time, driven by a poll loop with a
// deadline per step, so an unreachable or silent portal costs at most the timeout.
#include "paths/discovery.h"

#include <fmt/format.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <random>

#include "paths/scsi_pages.h"
#include "paths/scsi_status.h"

namespace lunfs {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kPageLength = 255;  // a VPD page's first read; a longer one is read again
constexpr int kMaxPageLength = 0xffff;
constexpr int kReportLunsLength = 16384;  // room for 2046 LUNs
constexpr int kUnitAttentionRetries = 4;

// libiscsi's login error text as one errno and one line.
Status LoginError(const std::string& where, const std::string& text) {
    auto has = [&](const char* s) { return text.find(s) != std::string::npos; };
    if (has("Authentication failure") || has("Authorization failure") || has("CHAP")) {
        return Status::Fail(EACCES, fmt::format("login to {} refused: {}", where, text));
    }
    if (has("Target not found"))
        return Status::Fail(ENOENT, fmt::format("{}: no such target", where));
    return Status::Fail(EIO, fmt::format("login to {} failed: {}", where, text));
}

// Why a TCP connection to `portal` fails, in plain words ("Connection refused", "no answer within
// 10 s"); libiscsi's own text after a failed connect says little.
std::string ConnectError(const IscsiUrl& portal, int timeout_s) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(portal.port);
    if (const int rc = getaddrinfo(portal.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
        return fmt::format("cannot resolve '{}': {}", portal.host, gai_strerror(rc));
    }
    std::string why = "unknown error";
    const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        if (connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
            why = "the connection was accepted, then closed";
        } else if (errno != EINPROGRESS) {
            why = std::strerror(errno);
        } else {
            pollfd p{fd, POLLOUT, 0};
            int err = 0;
            socklen_t len = sizeof(err);
            if (poll(&p, 1, timeout_s * 1000) <= 0) {
                why = fmt::format("no answer within {} s", timeout_s);
            } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
                why = std::strerror(err);
            } else {
                why = "the connection was accepted, then closed";
            }
        }
        close(fd);
    }
    freeaddrinfo(found);
    return why;
}

// One session: connect, log in, run commands one at a time, log out.
//
// Every wait on a libiscsi callback has a deadline, and a callback may still come after it: a
// late answer while the session waits for another one, or a cancellation from
// iscsi_destroy_context(). So what a callback writes (an Answer) is never on a waiter's stack: the
// session owns them all and destroys its context before them.
class Session {
  public:
    ~Session() {
        if (!ctx_) return;
        if (logged_in_) {
            Answer& logout = NewAnswer();
            if (iscsi_logout_async(ctx_, &Session::OnStatus, &logout) == 0) Wait(logout, 2);
        }
        iscsi_destroy_context(ctx_);  // calls back whatever is pending, into answers_
    }

    // `target` empty: a discovery session.
    static Result<std::unique_ptr<Session>> Open(const IscsiUrl& portal, const std::string& target,
                                                 const DiscoveryOptions& o) {
        std::unique_ptr<Session> s(new Session(o.timeout_s));
        s->where_ =
            target.empty() ? portal.Portal() : fmt::format("{} at {}", target, portal.Portal());
        s->ctx_ = iscsi_create_context(o.initiator_name.c_str());
        if (!s->ctx_) return Status::Fail(ENOMEM, "cannot create an iSCSI context");
        std::random_device random;
        iscsi_set_isid_random(s->ctx_, static_cast<int>(random() & 0xffffff), 0);
        iscsi_set_session_type(s->ctx_,
                               target.empty() ? ISCSI_SESSION_DISCOVERY : ISCSI_SESSION_NORMAL);
        if (!target.empty()) iscsi_set_targetname(s->ctx_, target.c_str());
        iscsi_set_header_digest(s->ctx_, ISCSI_HEADER_DIGEST_NONE_CRC32C);
        iscsi_set_noautoreconnect(s->ctx_, 1);
        if (!portal.user.empty()) {
            if (o.chap_secret.empty()) {
                return Status::Fail(
                    EINVAL, fmt::format("CHAP user '{}' given without a secret", portal.user));
            }
            iscsi_set_initiator_username_pwd(s->ctx_, portal.user.c_str(), o.chap_secret.c_str());
        }
        Answer& connected = s->NewAnswer();
        if (iscsi_connect_async(s->ctx_, portal.Portal().c_str(), &Session::OnStatus, &connected) !=
                0 ||
            !s->Wait(connected, s->timeout_s_) || connected.status != SCSI_STATUS_GOOD) {
            const std::string why = s->timed_out_ ? s->Error() : ConnectError(portal, o.timeout_s);
            return Status::Fail(ECONNREFUSED,
                                fmt::format("cannot connect to {}: {}", portal.Portal(), why));
        }
        Answer& login = s->NewAnswer();
        if (iscsi_login_async(s->ctx_, &Session::OnStatus, &login) != 0 ||
            !s->Wait(login, s->timeout_s_) || login.status != SCSI_STATUS_GOOD) {
            return LoginError(s->where_, s->Error());
        }
        s->logged_in_ = true;
        return s;
    }

    Result<std::vector<DiscoveredTarget>> SendTargets() {
        auto cb = [](iscsi_context*, int status, void* data, void* priv) {
            Guarded(priv, status, [&](Answer& a) {
                for (auto* d = static_cast<iscsi_discovery_address*>(data); d && status == 0;
                     d = d->next) {
                    DiscoveredTarget t{d->target_name ? d->target_name : "", {}};
                    for (iscsi_target_portal* p = d->portals; p; p = p->next) {
                        if (p->portal) t.portals.push_back(PortalOfTargetAddress(p->portal));
                    }
                    a.targets.push_back(std::move(t));
                }
            });
        };
        Answer& answer = NewAnswer();
        if (iscsi_discovery_async(ctx_, cb, &answer) != 0 || !Wait(answer, timeout_s_) ||
            answer.status != SCSI_STATUS_GOOD) {
            return Status::Fail(EIO, fmt::format("SendTargets on {} failed: {}", where_, Error()));
        }
        return std::move(answer.targets);
    }

    // Runs one SCSI command and returns its data-in; `start` queues it. A UNIT ATTENTION (the
    // first command after a login often gets one: power on, reset) is retried.
    using Start = std::function<scsi_task*(iscsi_context*, iscsi_command_cb, void*)>;
    Result<std::vector<uint8_t>> Command(const Start& start, const std::string& what) {
        for (int attempt = 0;; ++attempt) {
            Answer& answer = NewAnswer();
            if (!start(ctx_, &Session::OnCommand, &answer)) {
                return Status::Fail(ENOMEM, fmt::format("{}: cannot queue {}", where_, what));
            }
            if (!Wait(answer, timeout_s_)) {
                return Status::Fail(ETIMEDOUT, fmt::format("{}: {} timed out", where_, what));
            }
            if (answer.status == SCSI_STATUS_GOOD) return std::move(answer.data);
            if (answer.status == SCSI_STATUS_CHECK_CONDITION &&
                answer.sense_key == SCSI_SENSE_UNIT_ATTENTION && attempt < kUnitAttentionRetries) {
                continue;
            }
            return Status::Fail(EIO, fmt::format("{}: {} failed: {}", where_, what, Error()));
        }
    }

  private:
    explicit Session(int timeout_s) : timeout_s_(timeout_s) {}

    // What one callback delivers. Owned by the session (answers_), never by a waiter.
    struct Answer {
        bool done = false;
        int status = -1;
        int sense_key = 0;
        std::vector<uint8_t> data;
        std::vector<DiscoveredTarget> targets;
    };
    Answer& NewAnswer() { return answers_.emplace_back(); }

    // Records `status` in the Answer at `priv` and runs `body` on it; an exception (no exception
    // may unwind through libiscsi) makes the answer an error instead.
    template <typename Body>
    static void Guarded(void* priv, int status, Body&& body) noexcept {
        auto* a = static_cast<Answer*>(priv);
        a->done = true;
        a->status = status;
        try {
            body(*a);
        } catch (...) {
            a->status = -1;
        }
    }
    static void OnCommand(iscsi_context*, int status, void* data, void* priv) {
        std::unique_ptr<scsi_task, void (*)(scsi_task*)> task(static_cast<scsi_task*>(data),
                                                              &scsi_free_scsi_task);
        Guarded(priv, status, [&](Answer& a) {
            if (!task) return;
            const bool sensed =
                status != SCSI_STATUS_CHECK_CONDITION ||
                HoldsSense(task->datain.data, static_cast<size_t>(std::max(task->datain.size, 0)));
            a.sense_key = sensed ? task->sense.key : 0;
            if (status == SCSI_STATUS_GOOD && task->datain.data) {
                a.data.assign(task->datain.data, task->datain.data + task->datain.size);
            }
        });
    }
    static void OnStatus(iscsi_context*, int status, void*, void* priv) {
        Guarded(priv, status, [](Answer&) {});
    }

    bool Wait(const Answer& answer, int timeout_s) {
        return Drive([&] { return answer.done; }, timeout_s);
    }
    // Services the session until `finished` or the deadline; false on timeout or a dead socket.
    bool Drive(const std::function<bool()>& finished, int timeout_s) {
        const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
        while (!finished()) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) {
                timed_out_ = true;
                return false;
            }
            pollfd fd{iscsi_get_fd(ctx_), static_cast<short>(iscsi_which_events(ctx_)), 0};
            const int n = poll(&fd, 1, static_cast<int>(std::min<int64_t>(left.count(), 200)));
            if (n < 0 && errno != EINTR) return false;
            if (iscsi_service(ctx_, n > 0 ? fd.revents : 0) < 0) return finished();
        }
        return true;
    }
    std::string Error() const {
        if (timed_out_) return fmt::format("no answer within {} s", timeout_s_);
        const char* e = iscsi_get_error(ctx_);
        return e && *e ? e : "unknown error";
    }

    std::deque<Answer> answers_;  // a deque: an Answer never moves while the session lives
    iscsi_context* ctx_ = nullptr;
    int timeout_s_;
    bool logged_in_ = false;
    bool timed_out_ = false;
    std::string where_;
};

// One LUN's INQUIRY, VPD pages and capacity; failures of the optional pages are ignored.
LunReport ProbeLun(Session& s, int lun) {
    LunReport r;
    r.lun = lun;
    auto inquiry = [&](int evpd, int page) {
        auto read = [&](int length) {
            return s.Command(
                [=](iscsi_context* c, iscsi_command_cb cb, void* p) {
                    return iscsi_inquiry_task(c, lun, evpd, page, length, cb, p);
                },
                fmt::format("INQUIRY of LUN {}", lun));
        };
        Result<std::vector<uint8_t>> first = read(kPageLength);
        // A VPD page cut at the allocation length is read again whole.
        if (const size_t whole = first.ok() && evpd ? VpdPageSize(first.value()) : 0;
            whole > kPageLength && whole > first->size()) {
            return read(static_cast<int>(std::min<size_t>(whole, kMaxPageLength)));
        }
        return first;
    };
    Result<std::vector<uint8_t>> std_page = inquiry(0, 0);
    if (!std_page.ok()) {
        r.status = std_page.status();
        return r;
    }
    Result<StandardInquiry> std_inquiry = ParseStandardInquiry(std_page.value());
    if (!std_inquiry.ok()) {
        r.status = std_inquiry.status();
        return r;
    }
    r.info.inquiry = std_inquiry.value();
    if (Result<std::vector<uint8_t>> p = inquiry(1, 0x80); p.ok()) {
        if (Result<std::string> serial = ParseUnitSerialPage(p.value()); serial.ok()) {
            r.info.serial = serial.value();
        }
    }
    if (Result<std::vector<uint8_t>> p = inquiry(1, 0x83); p.ok()) {
        if (auto d = ParseDeviceIdentificationPage(p.value()); d.ok())
            r.info.designators = d.value();
    }
    r.info.identity = LunIdentity(r.info.designators, r.info.serial);
    if (r.info.inquiry.device_type != 0) return r;  // only disks have a capacity to read
    Result<std::vector<uint8_t>> cap =
        s.Command([=](iscsi_context* c, iscsi_command_cb cb,
                      void* p) { return iscsi_readcapacity16_task(c, lun, cb, p); },
                  fmt::format("READ CAPACITY of LUN {}", lun));
    if (!cap.ok()) {
        r.status = cap.status();
        return r;
    }
    Result<Capacity> capacity = ParseReadCapacity16(cap.value());
    if (capacity.ok()) {
        r.info.capacity = capacity.value();
    } else {
        r.status = capacity.status();
    }
    return r;
}

}  // namespace

Result<std::vector<DiscoveredTarget>> SendTargets(const IscsiUrl& portal,
                                                  const DiscoveryOptions& options) {
    Result<std::unique_ptr<Session>> s = Session::Open(portal, "", options);
    if (!s.ok()) return s.status();
    return s.value()->SendTargets();
}

Result<std::vector<LunReport>> ProbeTarget(const IscsiUrl& portal, const std::string& target,
                                           const DiscoveryOptions& options) {
    Result<std::unique_ptr<Session>> s = Session::Open(portal, target, options);
    if (!s.ok()) return s.status();
    Result<std::vector<uint8_t>> data = s.value()->Command(
        [](iscsi_context* c, iscsi_command_cb cb, void* p) {
            return iscsi_reportluns_task(c, 0, kReportLunsLength, cb, p);
        },
        "REPORT LUNS");
    if (!data.ok()) return data.status();
    Result<std::vector<int>> luns = ParseReportLuns(data.value());
    if (!luns.ok()) return luns.status();
    std::vector<LunReport> out;
    for (int lun : luns.value()) out.push_back(ProbeLun(*s.value(), lun));
    return out;
}

}  // namespace lunfs
