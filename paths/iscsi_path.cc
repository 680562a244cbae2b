#include "paths/iscsi_path.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "core/iov.h"
#include "paths/scsi_status.h"

namespace lunfs {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// libiscsi checks command timeouts only inside iscsi_service(); call it at least this often.
constexpr auto kServiceInterval = 1s;
// INQUIRY allocation length of a first read; a VPD page that says it is longer is read again
// whole, with up to kMaxInquiryLength.
constexpr int kInquiryLength = 255;
constexpr int kMaxInquiryLength = 0xffff;
constexpr unsigned char kModeSenseLength = 255;  // the caching page and its header fit easily
constexpr int kLogoutTimeoutS = 3;

// The probe's steps, in order (see SendProbe).
enum ProbeStep : int {
    // First: under a Write Exclusive - Registrants Only reservation, targets refuse some of the
    // probe's commands (tgtd: MODE SENSE) to a session that has not registered.
    kProbeRegister,  // only with reservation keys
    kProbeInquiry,
    kProbeSerial,
    kProbeIdentification,
    kProbeLimits,
    kProbeCapacity,
    kProbeProvisioning,
    kProbeCaching,
    kProbeDone,
};

bool IsVpdStep(int step) {
    return step == kProbeSerial || step == kProbeIdentification || step == kProbeLimits ||
           step == kProbeProvisioning;
}

// True on a path's own thread: what its callbacks submit to paths goes through their queues.
thread_local bool t_path_thread = false;
// True on a submitting thread while it sends a command itself (IscsiPath::SendFromSubmitter).
thread_local bool t_submitter_sending = false;

static_assert(sizeof(scsi_iovec) == sizeof(iovec) &&
              offsetof(scsi_iovec, iov_base) == offsetof(iovec, iov_base) &&
              offsetof(scsi_iovec, iov_len) == offsetof(iovec, iov_len));

// libiscsi resolves names with a blocking getaddrinfo() on the path's thread; resolve here
// instead and hand it a numeric portal.
Result<std::string> NumericPortal(const IscsiUrl& url) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(url.host.c_str(), nullptr, &hints, &found); rc != 0) {
        return Status::Fail(
            EHOSTUNREACH, fmt::format("cannot resolve host '{}': {}", url.host, gai_strerror(rc)));
    }
    char text[INET6_ADDRSTRLEN] = {};
    const void* addr =
        found->ai_family == AF_INET6
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr);
    const bool v6 = found->ai_family == AF_INET6;
    inet_ntop(found->ai_family, addr, text, sizeof(text));
    freeaddrinfo(found);
    return v6 ? fmt::format("[{}]:{}", text, url.port) : fmt::format("{}:{}", text, url.port);
}

// A 24-bit ISID qualifier no other path of this process uses: each session from one initiator
// name to one target must have its own ISID, or logging in one would reinstate (kill) another.
uint32_t NextIsid() {
    static std::atomic<uint32_t> next{[] {
        std::random_device random;
        return static_cast<uint32_t>(random());
    }()};
    return next.fetch_add(1) & 0xffffff;
}

// Turns libiscsi's login error text into one errno and one line for the user.
Status LoginFailure(const IscsiUrl& url, const char* error) {
    const std::string text = error ? error : "unknown error";
    auto has = [&](const char* s) { return text.find(s) != std::string::npos; };
    if (has("LOGICAL_UNIT_NOT_SUPPORTED")) {
        return Status::Fail(ENXIO, fmt::format("target {} has no LUN {}", url.target, url.lun));
    }
    if (has("Target not found")) {
        return Status::Fail(ENOENT, fmt::format("no target {} at {}", url.target, url.Portal()));
    }
    if (has("Authentication failure") || has("Authorization failure") || has("CHAP")) {
        return Status::Fail(EACCES, fmt::format("login to {} refused: {}", url.Portal(), text));
    }
    if (has("connect")) {
        return Status::Fail(ECONNREFUSED,
                            fmt::format("cannot connect to {}: {}", url.Portal(), text));
    }
    return Status::Fail(EIO, fmt::format("login to {} failed: {}", url.Portal(), text));
}

// What an exception thrown inside a callback says, for the log.
std::string WhatOf(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "unknown exception";
    }
}

Sense SenseOf(const scsi_task* task) {
    Sense s;
    if (task->status == SCSI_STATUS_CHECK_CONDITION &&
        !HoldsSense(task->datain.data, static_cast<size_t>(std::max(task->datain.size, 0)))) {
        return s;  // none arrived: NO SENSE
    }
    s.key = static_cast<uint8_t>(task->sense.key);
    s.asc = static_cast<uint8_t>((task->sense.ascq >> 8) & 0xff);
    s.ascq = static_cast<uint8_t>(task->sense.ascq & 0xff);
    return s;
}

}  // namespace

struct IscsiPath::Task {
    IscsiPath* path;
    PathCommand command;
};

// Runs the body of a callback that libiscsi (C) or the path's loop calls: no exception may unwind
// through them. One that escapes is logged and fails the path.
template <typename Body>
void IscsiPath::Guarded(const char* where, Body&& body) noexcept {
    try {
        body();
    } catch (...) {
        const std::string what = WhatOf(std::current_exception());
        spdlog::error("{}: exception in {}: {}", name_, where, what);
        Fail(Status::Retryable(EIO, fmt::format("{}: exception in {}: {}", name_, where, what),
                               Scope::kPath));
    }
}

IscsiPath::IscsiPath(IscsiPathOptions options)
    : options_(std::move(options)),
      name_(options_.url.ToString() + options_.name_suffix),
      keys_(options_.reservation_keys) {}

Result<std::shared_ptr<IscsiPath>> IscsiPath::Open(IscsiPathOptions options) {
    Result<std::string> portal = NumericPortal(options.url);
    if (!portal.ok()) return portal.status();
    if (!options.url.user.empty() && options.chap_secret.empty()) {
        return Status::Fail(EINVAL,
                            fmt::format("CHAP user '{}' given without a secret", options.url.user));
    }
    std::shared_ptr<IscsiPath> path(new IscsiPath(std::move(options)));
    path->portal_ = std::move(portal).value();
    path->isid_ = NextIsid();
    path->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (path->wake_fd_ < 0) return Status::Fail(errno, "eventfd failed");
    path->thread_ = std::thread(&IscsiPath::Run, path.get());

    std::unique_lock lock(path->mu_);
    const auto limit = std::chrono::seconds(path->options_.login_timeout_s) + 5s;
    if (!path->open_cv_.wait_for(lock, limit, [&] { return path->open_result_.has_value(); })) {
        return Status::Fail(ETIMEDOUT, fmt::format("timed out opening {}", path->name_));
    }
    Status result = *path->open_result_;
    lock.unlock();
    if (!result.ok()) return result;
    return path;
}

IscsiPath::~IscsiPath() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    if (wake_fd_ >= 0) {
        uint64_t one = 1;
        [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
    }
    if (thread_.joinable()) thread_.join();
    if (wake_fd_ >= 0) close(wake_fd_);
}

void IscsiPath::Submit(PathCommand command) {
    if (command.send_from_submitter && !t_path_thread && !t_submitter_sending &&
        SendFromSubmitter(command)) {
        return;
    }
    bool wake;
    {
        std::lock_guard lock(mu_);
        submitted_.push_back(std::move(command));
        wake = std::exchange(sleeping_, false);  // one wake-up ends its poll
    }
    if (wake) Wake();
}

void IscsiPath::Wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

// Only when the path's thread is waiting in poll() (ctx_mu_ free), the session is up and nothing
// waits before this command: then sending it here, instead of waking the thread to send it,
// changes nothing but the time it leaves. Whatever needs the path's thread afterwards (a failure,
// a completion, bytes the socket did not take yet) wakes it.
bool IscsiPath::SendFromSubmitter(PathCommand& command) {
    std::unique_lock ctx_lock(ctx_mu_, std::try_to_lock);
    if (!ctx_lock.owns_lock()) return false;
    {
        std::lock_guard lock(mu_);
        if (stop_ || reset_ || !submitted_.empty()) return false;
    }
    if (state_ != PathState::kUp || !ctx_ || failure_ || !pending_.empty() ||
        in_flight_ >= options_.queue_depth || lun_reset_in_flight_ ||
        command.kind == CommandKind::kLunReset) {
        return false;
    }
    t_submitter_sending = true;
    Issue(std::move(command));
    if (ctx_ && !failure_ && (iscsi_which_events(ctx_) & POLLOUT) && Service(POLLOUT) < 0) {
        Fail(Status::Retryable(ENOTCONN, fmt::format("{}: {}", name_, iscsi_get_error(ctx_)),
                               Scope::kPath));
    }
    t_submitter_sending = false;
    const bool wake =
        failure_ || !deferred_.empty() || !ctx_ || (iscsi_which_events(ctx_) & POLLOUT);
    ctx_lock.unlock();
    if (wake) Wake();
    return true;
}

// A failure that condemns the path (a timeout, a lost connection) fails the path and is held until
// it has been torn down (HandleFailure), so that whoever re-sends the command elsewhere does so
// only once no byte of it can leave this host any more; so is whatever completes on a submitting
// thread.
void IscsiPath::Deliver(std::function<void(Status)>& done, Status status) {
    const bool condemns = !status.ok() && status.scope() == Scope::kPath && !tearing_down_;
    if (condemns) Fail(status);
    if (t_submitter_sending || condemns) {
        deferred_.emplace_back(std::move(done), std::move(status));
        return;
    }
    Guarded("a command's completion", [&] { done(std::move(status)); });
}

void IscsiPath::DeliverDeferred() {
    if (failure_) return;  // after the teardown that failure calls for
    while (!deferred_.empty()) {
        auto batch = std::move(deferred_);
        deferred_.clear();
        for (auto& [done, status] : batch) {
            Guarded("a command's completion", [&] { done(std::move(status)); });
        }
    }
}

void IscsiPath::SetStateListener(StateListener listener) {
    std::lock_guard lock(mu_);
    listener_ = std::move(listener);
}

void IscsiPath::Reset(std::string reason) {
    {
        std::lock_guard lock(mu_);
        if (!reset_) reset_ = std::move(reason);
    }
    Wake();
}

void IscsiPath::OpenFinished(Status status) {
    {
        std::lock_guard lock(mu_);
        if (open_result_) return;
        open_result_ = std::move(status);
    }
    open_cv_.notify_all();
}

// ---- The path's thread ----------------------------------------------------------------------

void IscsiPath::SetState(PathState state) {
    if (state_.exchange(state) == state) return;
    StateListener listener;
    {
        std::lock_guard lock(mu_);
        listener = listener_;
    }
    if (listener) listener(state);
}

void IscsiPath::Run() {
    t_path_thread = true;
    std::unique_lock ctx_lock(ctx_mu_);
    if (!StartLogin()) HandleFailure();
    auto next_tick = Clock::now() + kServiceInterval;
    for (;;) {
        DeliverDeferred();
        bool stop;
        std::optional<std::string> reset;
        std::function<void(Status)> register_done;
        {
            std::lock_guard lock(mu_);
            stop = stop_;
            reset.swap(reset_);
            for (auto& c : submitted_) pending_.push_back(std::move(c));
            submitted_.clear();
            if (new_keys_) {
                keys_ = std::move(new_keys_);
                new_keys_.reset();
                register_done = std::move(new_keys_done_);
            }
        }
        if (stop) break;
        if (register_done) RegisterNow(std::exchange(register_done, nullptr));
        if (reset && ctx_ && state_ == PathState::kUp) {
            Fail(Status::Retryable(ETIMEDOUT, *reset, Scope::kPath));
            HandleFailure();
        }
        if (state_ == PathState::kUp) {
            IssuePending();
        } else if (!pending_.empty()) {
            FailQueued(Status::Retryable(ENOTCONN, name_ + ": path is down", Scope::kPath));
        }
        // A failure recorded since the last service (a command that could not be queued, one
        // sent from a submitting thread) is acted on before the context is serviced again.
        if (failure_) HandleFailure();

        pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {-1, 0, 0}};
        if (ctx_) fds[1] = {iscsi_get_fd(ctx_), static_cast<short>(iscsi_which_events(ctx_)), 0};
        auto until = next_tick;
        if (state_ == PathState::kDown && opened_) until = std::min(until, reconnect_at_);
        if (state_ == PathState::kUp && in_flight_ != 0) until = std::min(until, NopDue());
        // Rounded up: rounded down, the last millisecond before a tick would spin on poll(0).
        const auto wait = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
        const nfds_t nfds = ctx_ ? 2 : 1;
        bool idle;
        {
            // Submit() wakes the thread only when it is marked sleeping here; anything submitted
            // before that is seen now, and the poll does not wait.
            std::lock_guard lock(mu_);
            idle = submitted_.empty() && !stop_ && !reset_;
            sleeping_ = idle;
        }
        ctx_lock.unlock();
        poll(fds, nfds, idle ? static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 1000)) : 0);
        ctx_lock.lock();
        {
            std::lock_guard lock(mu_);
            sleeping_ = false;
        }
        DeliverDeferred();

        if (fds[0].revents & POLLIN) {
            uint64_t count;
            [[maybe_unused]] ssize_t n = read(wake_fd_, &count, sizeof(count));
        }
        if (ctx_ && !failure_ && fds[1].revents != 0 && Service(fds[1].revents) < 0) {
            Fail(Status::Retryable(ENOTCONN, fmt::format("{}: {}", name_, iscsi_get_error(ctx_)),
                                   Scope::kPath));
        }
        const auto now = Clock::now();
        if (now >= next_tick) {
            next_tick = now + kServiceInterval;
            if (ctx_ && !failure_) iscsi_service(ctx_, 0);  // fires command timeouts
            if (state_ == PathState::kConnecting && now > login_deadline_) {
                Fail(Status::Fail(
                    ETIMEDOUT, fmt::format("timed out logging in to {}", options_.url.Portal())));
            }
        }
        if (state_ == PathState::kUp && !failure_) CheckHealth(now);
        if (failure_) HandleFailure();
        if (state_ == PathState::kDown && opened_ && !ctx_ && Clock::now() >= reconnect_at_) {
            spdlog::info("{}: logging in again", name_);
            if (!StartLogin()) HandleFailure();
        }
    }

    // Let what is in flight (a health check, usually) finish first: libiscsi calls back nothing
    // that is still pending on a session it has logged out, so it would never be freed.
    const auto drain_until = Clock::now() + std::chrono::seconds(options_.health_timeout_s + 1);
    while (ctx_ && state_ == PathState::kUp && in_flight_ > 0 && !failure_ &&
           Clock::now() < drain_until) {
        DeliverDeferred();
        pollfd fd = {iscsi_get_fd(ctx_), static_cast<short>(iscsi_which_events(ctx_)), 0};
        ctx_lock.unlock();
        const int ready = poll(&fd, 1, 100);
        ctx_lock.lock();
        if (ready > 0 && ctx_ && iscsi_service(ctx_, fd.revents) < 0) {
            Fail(Status::Retryable(ENOTCONN, name_ + ": connection lost while closing",
                                   Scope::kPath));
        }
    }
    if (ctx_ && state_ == PathState::kUp && in_flight_ == 0 && !failure_) {
        Unregister(ctx_lock);
        LogOut(ctx_lock);
    }
    TearDown();  // cancels (and calls back) whatever is still in flight on a logged-in session
    failure_.reset();
    DeliverDeferred();
    SetState(PathState::kClosed);
    FailQueued(Status::Retryable(ECANCELED, name_ + ": path closed", Scope::kPath));
    OpenFinished(Status::Fail(ECANCELED, name_ + ": closed while opening"));
}

// Logs out, waiting at most kLogoutTimeoutS. Not libiscsi's synchronous logout: that one keeps
// its state on its own stack and returns without it when the connection fails, while the logout
// would still be called back (cancelled) from iscsi_destroy_context() later. Here the state is
// the path's own, alive until TearDown().
void IscsiPath::LogOut(std::unique_lock<std::mutex>& ctx_lock) {
    logout_done_ = false;
    iscsi_set_timeout(ctx_, kLogoutTimeoutS);
    if (iscsi_logout_async(ctx_, &IscsiPath::OnLoggedOut, this) != 0) return;
    ServiceUntil(
        ctx_lock, [this] { return logout_done_; },
        Clock::now() + std::chrono::seconds(kLogoutTimeoutS + 1));
}

void IscsiPath::ServiceUntil(std::unique_lock<std::mutex>& ctx_lock,
                             const std::function<bool()>& done, Clock::time_point until) {
    while (ctx_ && !done() && !failure_ && Clock::now() < until) {
        pollfd fd = {iscsi_get_fd(ctx_), static_cast<short>(iscsi_which_events(ctx_)), 0};
        ctx_lock.unlock();
        const int ready = poll(&fd, 1, 100);
        ctx_lock.lock();
        if (iscsi_service(ctx_, ready > 0 ? fd.revents : 0) < 0) break;
    }
}

// A session of a host key (`lunfs reservation register`) takes its registration with it when it
// logs out cleanly (ReservationKeys::UnregisterAtLogout), waiting at most kLogoutTimeoutS; a
// session that failed leaves its registration behind (on tgtd its nexus is gone for good; the
// cluster's PREEMPT of the host key removes it with the others).
void IscsiPath::Unregister(std::unique_lock<std::mutex>& ctx_lock) {
    if (!old_keys_ || !old_keys_->UnregisterAtLogout() || key_.load() == 0) return;
    const auto until = Clock::now() + std::chrono::seconds(kLogoutTimeoutS);
    // A unit attention pending on the session (a preemption, a reset) answers the first one.
    for (int attempt = 0; attempt < 3 && unregister_answer_ != SCSI_STATUS_GOOD; ++attempt) {
        unregister_answer_ = -1;
        scsi_persistent_reserve_out_basic params{};
        params.service_action_reservation_key = 0;
        if (!iscsi_persistent_reserve_out_task(
                ctx_, options_.url.lun, reserve::kRegisterIgnoringKey,
                SCSI_PERSISTENT_RESERVE_SCOPE_LU, 0, &params, &IscsiPath::OnUnregistered, this)) {
            break;
        }
        ServiceUntil(
            ctx_lock, [this] { return unregister_answer_ != -1; }, until);
        if (unregister_answer_ != SCSI_STATUS_CHECK_CONDITION) break;
    }
    if (unregister_answer_ == SCSI_STATUS_GOOD) {
        if (const uint64_t key = key_.exchange(0); key != 0) old_keys_->Retire(key);
    } else {
        spdlog::warn("{}: the host key's registration could not be removed before logging out",
                     name_);
    }
}

void IscsiPath::OnUnregistered(iscsi_context*, int status, void* data, void* self_ptr) {
    auto* self = static_cast<IscsiPath*>(self_ptr);
    ScsiTaskPtr st(static_cast<scsi_task*>(data), &scsi_free_scsi_task);
    if (st && self->failure_ && !self->tearing_down_) self->held_tasks_.push_back(std::move(st));
    self->unregister_answer_ = status;
}

void IscsiPath::OnLoggedOut(iscsi_context*, int, void*, void* self_ptr) {
    static_cast<IscsiPath*>(self_ptr)->logout_done_ = true;
}

bool IscsiPath::StartLogin() {
    const IscsiUrl& url = options_.url;
    SetState(PathState::kConnecting);
    const int timeout_s = opened_ ? options_.relogin_timeout_s : options_.login_timeout_s;
    login_deadline_ = Clock::now() + std::chrono::seconds(timeout_s);
    ctx_ = iscsi_create_context(options_.initiator_name.c_str());
    if (!ctx_) {
        Fail(Status::Fail(ENOMEM, "cannot create an iSCSI context"));
        return false;
    }
    iscsi_set_isid_random(ctx_, isid_, 0);
    iscsi_set_alias(ctx_, "lunfs");
    iscsi_set_targetname(ctx_, url.target.c_str());
    iscsi_set_session_type(ctx_, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx_, ISCSI_HEADER_DIGEST_NONE_CRC32C);
    iscsi_set_noautoreconnect(ctx_, 1);
    iscsi_set_tcp_user_timeout(ctx_, options_.unacked_timeout_ms);
    iscsi_set_timeout(ctx_, timeout_s);
    if (!url.user.empty()) {
        iscsi_set_initiator_username_pwd(ctx_, url.user.c_str(), options_.chap_secret.c_str());
        if (!options_.chap_target_user.empty()) {
            iscsi_set_target_username_pwd(ctx_, options_.chap_target_user.c_str(),
                                          options_.chap_target_secret.c_str());
        }
    }
    if (iscsi_full_connect_async(ctx_, portal_.c_str(), url.lun, &IscsiPath::OnLoggedIn, this) !=
        0) {
        Fail(LoginFailure(url, iscsi_get_error(ctx_)));
        return false;
    }
    return true;
}

void IscsiPath::OnLoggedIn(iscsi_context* ctx, int status, void*, void* self_ptr) {
    auto* self = static_cast<IscsiPath*>(self_ptr);
    self->Guarded("the login callback", [&] {
        if (status != SCSI_STATUS_GOOD) {
            self->Fail(LoginFailure(self->options_.url, iscsi_get_error(ctx)));
            return;
        }
        iscsi_set_timeout(ctx, self->options_.command_timeout_s);
        self->SendProbe(kProbeRegister);
    });
}

// The probe reads what lunfs must know of the LUN, one command after the other (ProbeStep):
// standard INQUIRY, VPD 0x80, 0x83, 0xB0, READ CAPACITY(16), VPD 0xB2 (only for a thin LUN), and
// MODE SENSE(10) of the caching page. A VPD page longer than `allocation` is read again whole.
void IscsiPath::SendProbe(int step, int allocation) {
    probe_step_ = step;
    probe_allocation_ = allocation;
    const int lun = options_.url.lun;
    auto vpd = [&](int page) {
        return iscsi_inquiry_task(ctx_, lun, 1, page, allocation, OnProbeDone, this);
    };
    scsi_task* task = nullptr;
    switch (step) {
        case kProbeInquiry:
            task = iscsi_inquiry_task(ctx_, lun, 0, 0, kInquiryLength, OnProbeDone, this);
            break;
        case kProbeSerial:
            task = vpd(0x80);
            break;
        case kProbeIdentification:
            task = vpd(0x83);
            break;
        case kProbeLimits:
            task = vpd(0xb0);
            break;
        case kProbeCapacity:
            task = iscsi_readcapacity16_task(ctx_, lun, OnProbeDone, this);
            break;
        case kProbeProvisioning:
            if (!info_.capacity.thin) return SendProbe(step + 1);
            task = vpd(0xb2);
            break;
        case kProbeCaching:
            task = iscsi_modesense10_task(ctx_, lun, 0, 1, SCSI_MODESENSE_PC_CURRENT,
                                          SCSI_MODEPAGE_CACHING, 0, kModeSenseLength, OnProbeDone,
                                          this);
            break;
        case kProbeRegister:
            if (!keys_) return SendProbe(step + 1);
            task = SendRegister(OnProbeDone, this);
            break;
        default: {
            if (keys_ && old_keys_ != keys_) {
                // Keys given while this login's probe ran (UseReservationKeys) were not the ones
                // it registered: register them, and probe again behind the registration.
                return SendProbe(kProbeRegister);
            }
            info_.identity = LunIdentity(info_.designators, info_.serial);
            if (opened_ && info_.identity != identity_) {
                // Another LUN answers at this address now: never send it this LUN's I/O.
                Fail(
                    Status::Fail(ESTALE, fmt::format("{}: the LUN's identity changed from {} to {}",
                                                     name_, identity_, info_.identity)));
                return;
            }
            if (!opened_) identity_ = info_.identity;
            spdlog::info("{}: up; {} {} identity {}, {} blocks of {} bytes, write cache {}, FUA {}",
                         name_, info_.inquiry.vendor, info_.inquiry.product,
                         info_.identity.empty() ? "(none)" : info_.identity, info_.capacity.blocks,
                         info_.capacity.block_size, info_.write_cache ? "on" : "off",
                         info_.fua ? "honoured" : "not supported");
            backoff_ = std::chrono::milliseconds(0);
            last_activity_ = Clock::now();
            opened_ = true;
            SetState(PathState::kUp);
            OpenFinished(Status::Ok());
            return;
        }
    }
    if (!task) Fail(Status::Fail(ENOMEM, fmt::format("{}: {}", name_, iscsi_get_error(ctx_))));
}

void IscsiPath::OnProbeDone(iscsi_context*, int status, void* data, void* self_ptr) {
    auto* self = static_cast<IscsiPath*>(self_ptr);
    ScsiTaskPtr task(static_cast<scsi_task*>(data), &scsi_free_scsi_task);
    self->Guarded("the probe callback", [&] { self->ProbeDone(status, task.get()); });
}

void IscsiPath::ProbeDone(int status, scsi_task* task) {
    const int step = probe_step_;
    // Optional: VPD pages, and MODE SENSE, whose refusal leaves the strict defaults (a LUN
    // another initiator reserved may refuse it with RESERVATION CONFLICT).
    const bool optional = IsVpdStep(step) || step == kProbeCaching;
    const bool refused =
        status == SCSI_STATUS_CHECK_CONDITION || status == SCSI_STATUS_RESERVATION_CONFLICT;
    Status s = ClassifyScsi(static_cast<uint32_t>(status), task ? SenseOf(task) : Sense{},
                            fmt::format("{}: probe step {}", name_, step));
    Bytes answer;
    if (s.ok() && task && task->datain.data) {
        answer = Bytes(task->datain.data, static_cast<size_t>(std::max(task->datain.size, 0)));
    }
    const size_t whole = IsVpdStep(step) ? VpdPageSize(answer) : 0;
    if (s.ok() && whole > answer.size() && whole > static_cast<size_t>(probe_allocation_) &&
        probe_allocation_ < kMaxInquiryLength && !tearing_down_) {
        // Cut at the allocation length: ask again for the whole page.
        SendProbe(step, static_cast<int>(std::min<size_t>(whole, kMaxInquiryLength)));
        return;
    }
    if (s.ok() && task) s = TakeProbeAnswer(step, answer);
    if (!s.ok() && !(optional && refused)) {
        Fail(std::move(s));
        return;
    }
    if (tearing_down_) return;
    SendProbe(step + 1);
}

Status IscsiPath::TakeProbeAnswer(int step, Bytes bytes) {
    switch (step) {
        case kProbeInquiry: {
            Result<StandardInquiry> r = ParseStandardInquiry(bytes);
            if (!r.ok()) return r.status();
            if (r->qualifier != 0) {
                return Status::Fail(ENXIO, fmt::format("target {} has no LUN {}",
                                                       options_.url.target, options_.url.lun));
            }
            if (r->device_type != 0) {
                return Status::Fail(ENODEV, fmt::format("LUN {} is not a disk (device type {:#x})",
                                                        options_.url.lun, r->device_type));
            }
            info_.inquiry = std::move(r).value();
            return Status::Ok();
        }
        case kProbeSerial: {
            Result<std::string> r = ParseUnitSerialPage(bytes);
            if (r.ok()) info_.serial = std::move(r).value();
            return r.status();
        }
        case kProbeIdentification: {
            Result<std::vector<Designator>> r = ParseDeviceIdentificationPage(bytes);
            if (r.ok()) info_.designators = std::move(r).value();
            return r.status();
        }
        case kProbeLimits: {
            Result<BlockLimits> r = ParseBlockLimitsPage(bytes);
            if (r.ok()) info_.limits = r.value();
            return r.status();
        }
        case kProbeCapacity: {
            Result<Capacity> r = ParseReadCapacity16(bytes);
            if (r.ok()) info_.capacity = r.value();
            return r.status();
        }
        case kProbeProvisioning: {
            Result<Provisioning> r = ParseProvisioningPage(bytes);
            if (r.ok()) info_.provisioning = r.value();
            return r.status();
        }
        case kProbeCaching: {
            Result<CachingMode> r = ParseModeSense10(bytes);
            if (!r.ok()) {
                spdlog::debug("{}: {}; assuming a write cache and no FUA", name_,
                              r.status().message());
                return Status::Ok();  // the strict defaults stay
            }
            info_.fua = r->fua;
            info_.write_cache = r->write_cache.value_or(true);
            return Status::Ok();
        }
    }
    return Status::Ok();
}

void IscsiPath::CheckHealth(Clock::time_point now) {
    if (in_flight_ != 0) {
        // Busy and quiet: a NOP-Out gives TCP bytes to have acknowledged. Its answer may wait
        // behind read data, so it is not awaited; libiscsi matches and drops it.
        if (now >= NopDue()) {
            last_nop_ = now;
            if (iscsi_nop_out_async(ctx_, nullptr, nullptr, 0, nullptr) != 0) {
                spdlog::debug("{}: cannot queue a NOP-Out: {}", name_, iscsi_get_error(ctx_));
            }
        }
        return;
    }
    if (health_check_in_flight_ || now - last_activity_ < options_.health_interval) return;
    health_check_in_flight_ = true;
    PathCommand check;
    check.kind = CommandKind::kTestUnitReady;
    check.done = [this](Status s) {
        health_check_in_flight_ = false;
        if (!s.ok() && s.scope() != Scope::kPath) {
            spdlog::debug("{}: health check: {}", name_, s.message());
        }
    };
    iscsi_set_timeout(ctx_, options_.health_timeout_s);
    Issue(std::move(check));
    if (ctx_) iscsi_set_timeout(ctx_, options_.command_timeout_s);
}

void IscsiPath::IssuePending() {
    while (!pending_.empty() && in_flight_ < options_.queue_depth && ctx_ && !failure_) {
        // A LOGICAL UNIT RESET goes out alone: the target would abort this session's commands
        // queued beside it without answering them.
        if (lun_reset_in_flight_) break;
        if (pending_.front().kind == CommandKind::kLunReset && in_flight_ > 0) break;
        PathCommand command = std::move(pending_.front());
        pending_.pop_front();
        Issue(std::move(command));
    }
}

void IscsiPath::Issue(PathCommand command) {
    auto* task = new Task{this, std::move(command)};
    PathCommand& c = task->command;
    const int lun = options_.url.lun;
    const int bs = static_cast<int>(info_.capacity.block_size);
    const uint32_t bytes = c.blocks * info_.capacity.block_size;
    auto* iov = reinterpret_cast<scsi_iovec*>(c.iov.data());
    const int niov = static_cast<int>(c.iov.size());
    scsi_task* t = nullptr;
    switch (c.kind) {
        case CommandKind::kRead:
            t = iscsi_read16_iov_task(ctx_, lun, c.lba, bytes, bs, 0, 0, 0, 0, 0, OnCommandDone,
                                      task, iov, niov);
            break;
        case CommandKind::kWrite:
            t = iscsi_write16_iov_task(ctx_, lun, c.lba, nullptr, bytes, bs, 0, 0, c.fua ? 1 : 0, 0,
                                       0, OnCommandDone, task, iov, niov);
            break;
        case CommandKind::kSyncCache:
            t = iscsi_synchronizecache16_task(ctx_, lun, 0, 0, 0, 0, OnCommandDone, task);
            break;
        case CommandKind::kTestUnitReady:
            t = iscsi_testunitready_task(ctx_, lun, OnCommandDone, task);
            break;
        case CommandKind::kUnmap: {
            unmap_list range{c.lba, c.blocks};  // copied into the command's parameter data
            t = iscsi_unmap_task(ctx_, lun, 0, 0, &range, 1, OnCommandDone, task);
            break;
        }
        case CommandKind::kWriteSameUnmap:
            zero_block_.resize(info_.capacity.block_size);
            t = iscsi_writesame16_task(ctx_, lun, c.lba, zero_block_.data(),
                                       info_.capacity.block_size, c.blocks, 0, 1, 0, 0,
                                       OnCommandDone, task);
            break;
        case CommandKind::kReserveIn: {
            size_t room = 0;
            for (const iovec& v : c.iov) room += v.iov_len;
            t = iscsi_persistent_reserve_in_task(
                ctx_, lun, c.reservation.action,
                static_cast<uint16_t>(std::min<size_t>(room, 0xffff)), OnCommandDone, task);
            break;
        }
        case CommandKind::kReserveOut: {
            scsi_persistent_reserve_out_basic params{};
            params.reservation_key = c.reservation.key;
            params.service_action_reservation_key = c.reservation.sa_key;
            t = iscsi_persistent_reserve_out_task(ctx_, lun, c.reservation.action,
                                                  SCSI_PERSISTENT_RESERVE_SCOPE_LU,
                                                  c.reservation.type, &params, OnCommandDone, task);
            break;
        }
        case CommandKind::kLunReset:
            // Not iscsi_task_mgmt_lun_reset_async: that one also cancels this context's commands
            // on this side, which the reset's answer is meant to wait for.
            if (iscsi_task_mgmt_async(ctx_, lun, ISCSI_TM_LUN_RESET, 0xffffffff, 0, OnLunResetDone,
                                      task) == 0) {
                lun_reset_in_flight_ = true;
                ++in_flight_;
                counters_.in_flight++;
                unsent_writes_ += 1;
                last_activity_ = Clock::now();
                return;
            }
            break;
    }
    last_activity_ = Clock::now();
    if (!t) {
        Status s = Status::Retryable(EIO,
                                     fmt::format("{}: cannot queue {}: {}", name_,
                                                 CommandKindName(c.kind), iscsi_get_error(ctx_)),
                                     Scope::kPath);
        counters_.failures++;
        Deliver(c.done, std::move(s));
        delete task;
        return;
    }
    ++in_flight_;
    counters_.in_flight++;
    // A command's data (libiscsi knows its direction and size) is a second socket write.
    const bool data_out = t->xfer_dir == SCSI_XFER_WRITE;
    unsent_writes_ += data_out ? 2 : 1;
    if (data_out) unsent_data_ += static_cast<uint64_t>(t->expxferlen);
}

// libiscsi writes a PDU's header and its data with a socket call each, and the session's socket
// sends every call at once (TCP_NODELAY): a 4 KiB write would leave as two segments and commands
// issued together as two per command, each segment a wake-up of the target. So when small
// commands wait to be written together (more than one socket write, at most kCorkBytes of data),
// the socket is corked around libiscsi's writes and they leave in as few segments as fit. A lone
// command without data is one write anyway; bulk data gains nothing from it, and is left as it
// was (on a slow link a larger first segment would wait longer for its acknowledgement, which
// --unacked-timeout watches).
//
// What is read is serviced first, on its own: a completion may record a failure that condemns the
// session, and then nothing more of it may be written (libiscsi would write in the same call).
int IscsiPath::Service(short revents) {
    if ((revents & POLLOUT) && (revents & ~POLLOUT)) {
        if (iscsi_service(ctx_, static_cast<short>(revents & ~POLLOUT)) < 0) return -1;
        if (failure_ || !ctx_) return 0;
        revents = POLLOUT;
    }
    const bool cork = (revents & POLLOUT) && unsent_writes_ > 1 && unsent_data_ <= kCorkBytes;
    if (revents & POLLOUT) {
        unsent_writes_ = 0;
        unsent_data_ = 0;
    }
    if (!cork) return iscsi_service(ctx_, revents);
    const int fd = iscsi_get_fd(ctx_);
    const int on = 1, off = 0;
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
    const int result = iscsi_service(ctx_, revents);
    // Uncorking sends what is held; a socket libiscsi closed meanwhile holds nothing.
    if (iscsi_get_fd(ctx_) == fd) setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
    return result;
}

void IscsiPath::OnCommandDone(iscsi_context*, int status, void* data, void* task_ptr) {
    std::unique_ptr<Task> task(static_cast<Task*>(task_ptr));
    ScsiTaskPtr st(static_cast<scsi_task*>(data), &scsi_free_scsi_task);
    IscsiPath* self = task->path;
    --self->in_flight_;
    self->counters_.in_flight--;
    self->Guarded("a command callback",
                  [&] { self->CommandDone(status, st.get(), task->command); });
    // Once the session is condemned, nothing of it is freed before it is torn down: PDUs libiscsi
    // still holds may point into the task.
    if (st && self->failure_ && !self->tearing_down_) self->held_tasks_.push_back(std::move(st));
}

void IscsiPath::CommandDone(int status, scsi_task* st, PathCommand& c) {
    const uint64_t bytes = uint64_t{c.blocks} * info_.capacity.block_size;

    // The message is formatted only for a failure: completions are the hot path.
    Status s = status == SCSI_STATUS_GOOD
                   ? Status::Ok()
                   : ClassifyScsi(static_cast<uint32_t>(status), st ? SenseOf(st) : Sense{},
                                  fmt::format("{}: {} of {} blocks at LBA {}", name_,
                                              CommandKindName(c.kind), c.blocks, c.lba));
    if (s.ok() && st && c.kind == CommandKind::kRead &&
        st->residual_status != SCSI_RESIDUAL_NO_RESIDUAL && st->residual != 0) {
        s = Status::Fail(EIO, fmt::format("{}: short read at LBA {} ({} bytes missing)", name_,
                                          c.lba, st->residual));
    }
    last_activity_ = Clock::now();
    if (s.ok()) {
        switch (c.kind) {
            case CommandKind::kRead:
                counters_.reads++;
                counters_.bytes_read += bytes;
                break;
            case CommandKind::kWrite:
                counters_.writes++;
                counters_.bytes_written += bytes;
                break;
            case CommandKind::kSyncCache:
                counters_.syncs++;
                break;
            case CommandKind::kTestUnitReady:
                break;
            case CommandKind::kUnmap:
            case CommandKind::kWriteSameUnmap:
                counters_.discards++;
                break;
            case CommandKind::kReserveIn:
                if (st && st->datain.data && st->datain.size > 0) {
                    uint64_t room = 0;
                    for (const iovec& v : c.iov) room += v.iov_len;
                    CopyToIov(c.iov, 0, st->datain.data,
                              std::min<uint64_t>(room, static_cast<uint64_t>(st->datain.size)));
                }
                break;
            case CommandKind::kReserveOut:
            case CommandKind::kLunReset:
                break;
        }
    } else {
        counters_.failures++;
    }
    Deliver(c.done, std::move(s));
}

void IscsiPath::OnLunResetDone(iscsi_context*, int status, void* data, void* task_ptr) {
    std::unique_ptr<Task> task(static_cast<Task*>(task_ptr));
    IscsiPath* self = task->path;
    self->Guarded("a LOGICAL UNIT RESET's completion", [&] {
        self->lun_reset_in_flight_ = false;
        --self->in_flight_;
        self->counters_.in_flight--;
        self->last_activity_ = Clock::now();
        Status s;
        if (status != SCSI_STATUS_GOOD || !data) {
            s = ClassifyScsi(static_cast<uint32_t>(status), Sense{},
                             fmt::format("{}: LOGICAL UNIT RESET", self->name_));
            if (s.ok()) s = Status::Fail(EIO, self->name_ + ": LOGICAL UNIT RESET: no answer");
        } else if (const uint32_t response = *static_cast<uint32_t*>(data); response != 0) {
            // RFC 7143 11.6.1: 0 is "function complete"; 5 "not supported", 6 "authorization
            // failed", 255 "rejected".
            s = Status::Fail(response == 5 ? EOPNOTSUPP : EIO,
                             fmt::format("{}: LOGICAL UNIT RESET answered with response {}",
                                         self->name_, response));
        }
        if (!s.ok()) self->counters_.failures++;
        self->Deliver(task->command.done, std::move(s));
    });
}

scsi_task* IscsiPath::SendRegister(void (*cb)(iscsi_context*, int, void*, void*),
                                   void* private_data) {
    const uint64_t key = keys_->Claim();
    // Published before it reaches the target: whoever reads the target's keys and then the live
    // ones never takes this session's key for a stale one. A key this session registered before
    // (other keys given by UseReservationKeys) is replaced on its nexus: it is no longer live.
    if (const uint64_t old = key_.exchange(key); old != 0 && old_keys_) old_keys_->Retire(old);
    old_keys_ = keys_;
    scsi_persistent_reserve_out_basic params{};
    params.service_action_reservation_key = key;
    return iscsi_persistent_reserve_out_task(ctx_, options_.url.lun, reserve::kRegisterIgnoringKey,
                                             SCSI_PERSISTENT_RESERVE_SCOPE_LU, 0, &params, cb,
                                             private_data);
}

void IscsiPath::UseReservationKeys(std::shared_ptr<ReservationKeys> keys,
                                   std::function<void(Status)> done) {
    {
        std::lock_guard lock(mu_);
        new_keys_ = std::move(keys);
        new_keys_done_ = std::move(done);
    }
    Wake();
}

void IscsiPath::RegisterNow(std::function<void(Status)> done) {
    if (state_ != PathState::kUp || !ctx_ || failure_) {
        Guarded("a registration's completion", [&] { done(Status::Ok()); });
        return;
    }
    auto* task = new Task{this, PathCommand{}};
    task->command.kind = CommandKind::kReserveOut;
    task->command.done = std::move(done);
    if (!SendRegister(OnCommandDone, task)) {
        Status s = Status::Retryable(
            EIO, fmt::format("{}: cannot queue REGISTER: {}", name_, iscsi_get_error(ctx_)),
            Scope::kPath);
        Deliver(task->command.done, std::move(s));
        delete task;
        return;
    }
    ++in_flight_;
    counters_.in_flight++;
    unsent_writes_ += 2;
}

void IscsiPath::Fail(Status status) {
    if (!failure_) failure_ = std::move(status);
}

void IscsiPath::HandleFailure() {
    Status why = std::move(*failure_);
    failure_.reset();
    TearDown();
    if (!deferred_.empty()) {
        spdlog::debug("{}: session torn down; handing back {} held completion(s)", name_,
                      deferred_.size());
    }
    DeliverDeferred();
    health_check_in_flight_ = false;
    lun_reset_in_flight_ = false;
    if (!opened_) {
        SetState(PathState::kDown);
        OpenFinished(why);
        return;
    }
    backoff_ = std::clamp(backoff_ * 2, options_.reconnect_min, options_.reconnect_max);
    reconnect_at_ = Clock::now() + backoff_;
    spdlog::warn("{}: path down: {}; logging in again in {} ms", name_, why.message(),
                 backoff_.count());
    SetState(PathState::kDown);
    FailQueued(Status::Retryable(ENOTCONN, name_ + ": path is down", Scope::kPath));
}

// Closing with SO_LINGER 0 makes the kernel drop what it still held to send on this connection
// and reset it: once this returns, no byte of a cancelled command can leave this host, so the
// caller may send those commands elsewhere. (Bytes already delivered are the target's; the next
// login with the same ISID makes it abort whatever of the old session it still holds.)
void IscsiPath::TearDown() {
    if (!ctx_) return;
    tearing_down_ = true;
    // The session's registration stays on the target until someone preempts it: from now on its
    // key is stale (paths/target_fence.h).
    if (const uint64_t key = key_.exchange(0); key != 0 && old_keys_) old_keys_->Retire(key);
    iscsi_context* ctx = ctx_;
    ctx_ = nullptr;
    if (const int fd = iscsi_get_fd(ctx); fd >= 0) {
        const linger hard{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
    }
    iscsi_destroy_context(ctx);  // cancels every command still in flight: callbacks run here
    tearing_down_ = false;
    held_tasks_.clear();
}

void IscsiPath::FailQueued(const Status& status) {
    std::deque<PathCommand> queued;
    queued.swap(pending_);
    for (PathCommand& c : queued) {
        counters_.failures++;
        Guarded("a command's completion", [&] { c.done(status); });
    }
}

}  // namespace lunfs
