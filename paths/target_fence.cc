#include "paths/target_fence.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <future>
#include <set>

namespace lunfs {

namespace {

using namespace std::chrono_literals;

constexpr size_t kAnswerBytes = 8192;  // READ KEYS room: 1023 keys
constexpr int kFenceUnitAttentionRetries = 4;
constexpr auto kReservationAnswerLimit = std::chrono::milliseconds(5000);

bool IsUnitAttention(const Status& s) {
    return s.sense() && s.sense()->key == sense_key::kUnitAttention;
}

// Not supported at all, as opposed to failed this time.
bool IsUnsupported(const Status& s) {
    return s.code() == EOPNOTSUPP || (s.sense() && s.sense()->key == sense_key::kIllegalRequest);
}

std::string Keys(const std::vector<uint64_t>& keys) {
    std::string out;
    for (uint64_t k : keys) out += fmt::format("{}{:#018x}", out.empty() ? "" : ", ", k);
    return out;
}

}  // namespace

Result<FenceRequest> ParseFenceRequest(std::string_view text) {
    if (text == "auto") return FenceRequest::kAuto;
    if (text == "reservation") return FenceRequest::kReservation;
    if (text == "reset") return FenceRequest::kReset;
    if (text == "timed") return FenceRequest::kTimed;
    return Status::Fail(EINVAL,
                        fmt::format("unknown fence '{}' (auto, reservation, reset, timed)", text));
}

TargetFence::TargetFence(Options options) : options_(std::move(options)) {}

Result<std::shared_ptr<TargetFence>> TargetFence::Open(
    Options options, const std::vector<std::shared_ptr<IscsiPath>>& paths) {
    if (paths.empty()) return Status::Fail(EINVAL, "a fence needs at least one path");
    std::shared_ptr<TargetFence> fence(new TargetFence(std::move(options)));
    if (Status s = fence->Setup(paths); !s.ok()) {
        fence->Close();
        return s;
    }
    spdlog::info("{}: fence {}: {}", paths.front()->info().identity, FenceModeName(fence->mode()),
                 fence->why());
    fence->thread_ = std::thread(&TargetFence::Run, fence.get());
    return fence;
}

TargetFence::~TargetFence() { Close(); }

std::string TargetFence::why() const {
    std::lock_guard lock(mu_);
    return why_;
}

void TargetFence::SetMode(FenceMode mode, std::string why) {
    std::lock_guard lock(mu_);
    mode_.store(mode);
    why_ = std::move(why);
}

Status TargetFence::Setup(const std::vector<std::shared_ptr<IscsiPath>>& paths) {
    {
        std::lock_guard lock(mu_);
        for (const auto& p : paths) paths_.push_back(p);
    }
    const FenceRequest request = options_.request;
    if (request == FenceRequest::kTimed) {
        SetMode(FenceMode::kTimed, "asked for (--fence timed)");
        return Status::Ok();
    }
    if (request == FenceRequest::kAuto && options_.shared_lun) {
        SetMode(FenceMode::kTimed,
                "--shared-lun: other hosts write to the LUN, a reservation would lock them out");
        return Status::Ok();
    }
    Result<std::shared_ptr<IscsiPath>> control = Control();
    if (!control.ok()) return control.status();
    PathIo& c = *control.value();

    // What the LUN supports, and who is registered on it already.
    std::vector<uint8_t> answer;
    Status s = ReserveIn(c, reserve::kReportCapabilities, answer);
    bool supported = false;
    std::string unsupported = "the LUN does not support persistent reservations";
    if (s.ok()) {
        Result<ReservationCapabilities> r = ParseReportCapabilities(answer);
        if (!r.ok()) return r.status();
        // A LUN that does not fill in its type mask is tried anyway: RESERVE will tell.
        supported = !r->type_mask_valid || r->Supports(reserve::kWriteExclusiveRegistrantsOnly);
        if (!supported) {
            unsupported = "the LUN does not offer Write Exclusive - Registrants Only reservations";
        }
    } else if (!IsUnsupported(s)) {
        return Status::Fail(s.code(), "reading the LUN's reservation capabilities: " + s.message());
    }
    std::vector<uint64_t> foreign;
    std::optional<ReservationHolder> holder;
    if (supported) {
        Result<RegisteredKeys> keys = ReadKeys(c);
        if (!keys.ok()) return keys.status();
        for (uint64_t k : keys->keys) {
            if (!options_.keys->Ours(k) && !Leftover(k)) foreign.push_back(k);
        }
        Result<std::optional<ReservationHolder>> h = ReadReservation(c);
        if (!h.ok()) return h.status();
        holder = h.value();
        // An all-registrants reservation shows no holder key: it is the registrants' (above).
        if (holder && holder->key != 0 && !options_.keys->Ours(holder->key) &&
            !Leftover(holder->key) &&
            std::find(foreign.begin(), foreign.end(), holder->key) == foreign.end()) {
            foreign.push_back(holder->key);
        }
    }
    if (!foreign.empty()) {
        std::string why = fmt::format(
            "the LUN carries registrations of other initiators ({}){}; lunfs leaves them alone",
            Keys(foreign),
            holder ? fmt::format(", reserved {}", ReservationTypeName(holder->type)) : "");
        if (request == FenceRequest::kReservation) return Status::Fail(EBUSY, why);
        if (request == FenceRequest::kAuto) {
            SetMode(FenceMode::kTimed, why + "; a fence is a timer only");
            spdlog::warn("fence: timed only: {}", why);
            return Status::Ok();
        }
    }
    if (request == FenceRequest::kReset || !supported) {
        if (request == FenceRequest::kReservation) return Status::Fail(EOPNOTSUPP, unsupported);
        SetMode(FenceMode::kReset,
                request == FenceRequest::kReset ? "asked for (--fence reset)" : unsupported);
        return Status::Ok();
    }

    // Reservation: every session registers, then leftovers go and the control session reserves.
    if (Status r = Register(*control.value()); !r.ok()) {
        if (request == FenceRequest::kReservation || !IsUnsupported(r)) return r;
        SetMode(FenceMode::kReset, "the LUN refused a registration: " + r.message());
        return Status::Ok();
    }
    SetMode(FenceMode::kReservation,
            fmt::format("every session registered, {} held by lunfs",
                        ReservationTypeName(reserve::kWriteExclusiveRegistrantsOnly)));
    for (const auto& p : paths) {
        if (Status r = Register(*p); !r.ok()) return r;
    }
    return Clean(c, false);
}

std::shared_ptr<ReservationKeys> TargetFence::KeysForNewPaths() const {
    {
        std::lock_guard lock(mu_);
        if (host_keys_) return host_keys_;
    }
    return mode() == FenceMode::kReservation ? options_.keys : nullptr;
}

void TargetFence::Adopt(const std::shared_ptr<IscsiPath>& path) {
    std::lock_guard lock(mu_);
    paths_.push_back(path);
}

Status TargetFence::Register(IscsiPath& path) { return Register(path, options_.keys); }

Status TargetFence::Register(IscsiPath& path, const std::shared_ptr<ReservationKeys>& keys) {
    // A unit attention (a fence's reset, a preemption) pending on the session answers the first
    // REGISTER: the next one goes through.
    std::optional<Status> s = Await(
        [&](std::function<void(Status)> done) { path.UseReservationKeys(keys, std::move(done)); },
        std::chrono::seconds(options_.control.command_timeout_s) + 5s, false);
    if (!s) return Status::Fail(ETIMEDOUT, path.name() + ": no answer to REGISTER");
    if (!s->ok()) return Status::Fail(s->code(), path.name() + ": registering: " + s->message());
    return *s;
}

bool TargetFence::Leftover(uint64_t key) const {
    if (!ReservationKeys::OfLunfs(key) || !options_.keys->OfThisHost(key)) return false;
    if (options_.keys->Ours(key)) return false;
    // 16 bits of a process id: a live lunfs whose id ends the same way keeps its keys.
    const uint32_t low = ReservationKeys::ProcessOf(key);
    for (uint32_t pid = low; pid < (1u << 22); pid += 1u << 16) {
        if (pid == 0) continue;
        std::ifstream comm(fmt::format("/proc/{}/comm", pid));
        std::string name;
        if (comm && std::getline(comm, name) && name == "lunfs") return false;
    }
    return true;
}

Result<std::shared_ptr<IscsiPath>> TargetFence::Control() {
    std::vector<std::shared_ptr<IscsiPath>> candidates;
    {
        std::lock_guard lock(mu_);
        for (const auto& weak : paths_) {
            if (auto p = weak.lock()) candidates.push_back(std::move(p));
        }
    }
    // A control session is kept while it is up and no data path to its portal is down: a fence
    // usually follows a path's failure, and waiting for the control session on the same portal
    // to notice would cost the time the fence is meant to save.
    auto portal_down = [&](const IscsiPath& control) {
        return std::any_of(candidates.begin(), candidates.end(), [&](const auto& p) {
            return p->url().Portal() == control.url().Portal() && p->state() != PathState::kUp;
        });
    };
    if (control_ && control_->state() == PathState::kUp && !portal_down(*control_)) {
        return control_;
    }
    Retire();
    std::stable_partition(candidates.begin(), candidates.end(),
                          [](const auto& p) { return p->state() == PathState::kUp; });
    Status last = Status::Fail(ENOTCONN, "no path to open a control session on");
    for (const auto& p : candidates) {
        IscsiPathOptions o = options_.control;
        o.url = p->url();
        o.name_suffix = " (fence control session)";
        o.login_timeout_s = std::min(o.login_timeout_s, o.relogin_timeout_s);
        // Only the reservation fence registers its control session: a host key is the data
        // paths' alone, and the control session carries no I/O of the host's.
        o.reservation_keys = mode() == FenceMode::kReservation ? options_.keys : nullptr;
        Result<std::shared_ptr<IscsiPath>> opened = IscsiPath::Open(std::move(o));
        if (!opened.ok()) {
            last = opened.status();
            continue;
        }
        if (opened.value()->info().identity != p->info().identity) {
            last = Status::Fail(ESTALE, opened.value()->name() + ": another LUN answers there now");
            continue;
        }
        control_ = std::move(opened).value();
        return control_;
    }
    return Status::Fail(last.code(), "opening a control session: " + last.message());
}

Status TargetFence::Call(PathIo& path, PathCommand command) {
    if (closing_limit_) return Call(path, std::move(command), *closing_limit_, false);
    // A LOGICAL UNIT RESET is answered once the target's backend finished what it holds: it
    // gets the commands' own timeout. Reservation commands are answered by the target at once
    // (tgtd: on its main thread); one that is not is a session to give up on soon, and the
    // fence is tried again on another.
    const std::chrono::milliseconds limit =
        command.kind == CommandKind::kLunReset
            ? std::chrono::seconds(options_.control.command_timeout_s) + 5s
            : std::chrono::milliseconds(kReservationAnswerLimit);
    return Call(path, std::move(command), limit, true);
}

Status TargetFence::Call(PathIo& path, PathCommand command, std::chrono::milliseconds limit,
                         bool cancellable) {
    std::optional<Status> s = Await(
        [&](std::function<void(Status)> done) {
            PathCommand c = command;
            c.done = std::move(done);
            path.Submit(std::move(c));
        },
        limit, cancellable);
    if (s) return *s;
    // The command completes, cancelled, when its session goes: its answer outlives it.
    path.Reset("a fence command went unanswered");
    return Status::Retryable(
        cancellable && cancelled_.load() ? ECANCELED : ETIMEDOUT,
        fmt::format("{}: no answer to {}", path.name(), CommandKindName(command.kind)),
        Scope::kPath);
}

std::optional<Status> TargetFence::Await(
    const std::function<void(std::function<void(Status)>)>& send, std::chrono::milliseconds limit,
    bool cancellable) {
    for (int attempt = 0;; ++attempt) {
        auto promise = std::make_shared<std::promise<Status>>();
        std::future<Status> answer = promise->get_future();
        send([promise](Status s) { promise->set_value(std::move(s)); });
        const auto until = std::chrono::steady_clock::now() + limit;
        bool ready = false;
        while (!ready && std::chrono::steady_clock::now() < until &&
               !(cancellable && cancelled_.load())) {
            ready = answer.wait_for(50ms) == std::future_status::ready;
        }
        if (!ready) return std::nullopt;
        Status s = answer.get();
        if (s.ok() || !IsUnitAttention(s) || attempt == kFenceUnitAttentionRetries) return s;
    }
}

Status TargetFence::ReserveIn(PathIo& path, uint8_t action, std::vector<uint8_t>& answer) {
    PathCommand c;
    c.kind = CommandKind::kReserveIn;
    c.reservation.action = action;
    answer.assign(kAnswerBytes, 0);
    c.iov = {{answer.data(), answer.size()}};
    return Call(path, std::move(c));
}

Result<RegisteredKeys> TargetFence::ReadKeys(PathIo& path) {
    std::vector<uint8_t> answer;
    if (Status s = ReserveIn(path, reserve::kReadKeys, answer); !s.ok()) return s;
    return ParseReadKeys(answer);
}

Result<std::optional<ReservationHolder>> TargetFence::ReadReservation(PathIo& path) {
    std::vector<uint8_t> answer;
    if (Status s = ReserveIn(path, reserve::kReadReservation, answer); !s.ok()) return s;
    return ParseReadReservation(answer);
}

Status TargetFence::ReserveOut(PathIo& path, uint8_t action, uint8_t type, uint64_t sa_key) {
    PathCommand c;
    c.kind = CommandKind::kReserveOut;
    c.reservation.action = action;
    c.reservation.type = type;
    c.reservation.key = path.ReservationKey();
    c.reservation.sa_key = sa_key;
    return Call(path, c);
}

Status TargetFence::Clean(PathIo& control, bool closing) {
    constexpr uint8_t kType = reserve::kWriteExclusiveRegistrantsOnly;
    // Keys first, then what is live: a session that registers in between published its key
    // before, and is seen live (paths/reservation.h).
    Result<RegisteredKeys> keys = ReadKeys(control);
    if (!keys.ok()) return keys.status();
    const std::set<uint64_t> live = options_.keys->Live();
    const uint64_t own = control.ReservationKey();
    if (own == 0) return Status::Fail(EIO, control.name() + ": the control session has no key");
    Result<std::optional<ReservationHolder>> holder = ReadReservation(control);
    if (!holder.ok()) return holder.status();
    if (holder.value() && holder.value()->key != 0 && !options_.keys->Ours(holder.value()->key) &&
        !Leftover(holder.value()->key)) {
        return Status::Fail(
            EBUSY, fmt::format("another initiator reserved the LUN (key {:#018x}, "
                               "{})",
                               holder.value()->key, ReservationTypeName(holder.value()->type)));
    }
    std::set<uint64_t> stale;
    for (uint64_t k : keys->keys) {
        if (k == own) continue;
        if ((options_.keys->Ours(k) && (closing || !live.contains(k))) || Leftover(k)) {
            stale.insert(k);
        }
    }
    bool reserved = holder.value() && holder.value()->key == own;
    for (uint64_t k : stale) {
        // Preempting the holder's key hands the reservation to the control session.
        Status s = ReserveOut(control, reserve::kPreempt, kType, k);
        if (!s.ok())
            return Status::Fail(s.code(), fmt::format("PREEMPT {:#018x}: {}", k, s.message()));
        if (holder.value() && holder.value()->key == k) reserved = true;
    }
    if (closing) {
        if (reserved || (holder.value() && stale.contains(holder.value()->key))) {
            if (Status s = ReserveOut(control, reserve::kRelease, kType, 0); !s.ok()) {
                spdlog::warn("fence: RELEASE: {}", s.message());
            }
        }
        return ReserveOut(control, reserve::kRegister, 0, 0);  // unregisters the control session
    }
    if (!reserved && !holder.value()) {
        if (Status s = ReserveOut(control, reserve::kReserve, kType, 0); !s.ok()) {
            return Status::Fail(s.code(), "RESERVE: " + s.message());
        }
    }
    return Status::Ok();
}

Status TargetFence::RunFence() {
    Result<std::shared_ptr<IscsiPath>> control = Control();
    if (!control.ok()) return control.status();
    if (mode() == FenceMode::kReservation) {
        Status s = Clean(*control.value(), false);
        if (s.code() == EBUSY) {
            // Taken by someone else: lunfs's keys no longer keep anyone out.
            const std::string why = s.message() + "; a fence is a timer only from now on";
            spdlog::error("fence: {}", why);
            SetMode(FenceMode::kTimed, why);
            return Status::Ok();
        }
        if (!s.ok()) return s;
    }
    PathCommand reset;
    reset.kind = CommandKind::kLunReset;
    return Call(*control.value(), reset);
}

void TargetFence::Fence(std::function<void(Status)> done) {
    {
        std::lock_guard lock(mu_);
        if (!stop_) {
            waiting_.push_back(std::move(done));
            cv_.notify_all();
            return;
        }
    }
    std::thread([done = std::move(done)] {
        done(Status::Fail(ECANCELED, "the fence is closed"));
    }).detach();
}

void TargetFence::Cancel() {
    cancelled_.store(true);
    cv_.notify_all();
}

void TargetFence::Run() {
    for (;;) {
        std::vector<std::function<void(Status)>> batch;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stop_ || !waiting_.empty(); });
            if (stop_ || cancelled_.load()) {
                for (auto& done : waiting_) done(Status::Fail(ECANCELED, "the fence is closed"));
                waiting_.clear();
                if (stop_) return;
                continue;
            }
            // Every request waiting now is answered by one fence that starts after all of them.
            batch.assign(std::make_move_iterator(waiting_.begin()),
                         std::make_move_iterator(waiting_.end()));
            waiting_.clear();
        }
        Status s = Status::Ok();
        {
            std::lock_guard work(work_mu_);
            if (mode() != FenceMode::kTimed) s = RunFence();
            if (!s.ok() && control_ && control_->state() != PathState::kUp) {
                Retire();  // the next try opens another
            }
        }
        for (auto& done : batch) done(s);
    }
}

void TargetFence::Retire() {
    if (!control_) return;
    // Closing a session logs it out, which on a dead portal takes seconds: not on the way of a
    // fence. Its key, if any, is stale from then on.
    control_->Reset("the fence's control session is let go");  // no logout on a dead portal
    closers_.emplace_back([old = std::move(control_)]() mutable { old.reset(); });
}

void TargetFence::Close() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard work(work_mu_);
    if (mode() == FenceMode::kReservation && control_ && control_->state() == PathState::kUp) {
        // Leaves the LUN as it was found: no registration of this process, no reservation. A
        // target that does not answer soon is not waited for (the next mount cleans up).
        closing_limit_ = 3s;
        if (Status s = Clean(*control_, true); !s.ok()) {
            spdlog::warn("fence: removing lunfs's registrations from the LUN: {}", s.message());
        }
    }
    control_.reset();
    for (std::thread& t : closers_) t.join();
}

// ---- A cluster's host key (`lunfs reservation`) -------------------------------------------------

uint64_t TargetFence::host_key() const {
    std::lock_guard lock(mu_);
    return host_keys_ ? host_keys_->host_key() : 0;
}

std::vector<std::shared_ptr<IscsiPath>> TargetFence::DataPaths() const {
    std::vector<std::shared_ptr<IscsiPath>> out;
    std::lock_guard lock(mu_);
    for (const auto& weak : paths_) {
        if (auto p = weak.lock(); p && p->state() != PathState::kClosed)
            out.push_back(std::move(p));
    }
    return out;
}

Status TargetFence::RegisterAll(const std::shared_ptr<ReservationKeys>& keys) {
    {
        std::lock_guard lock(mu_);
        host_keys_ = keys;  // first: a path that logs in from now on registers these
    }
    Status first = Status::Ok();
    for (const auto& p : DataPaths()) {
        // A path that is not up registers at its next login (IscsiPath::UseReservationKeys).
        if (Status s = Register(*p, keys); !s.ok() && first.ok()) first = s;
    }
    return first;
}

Status TargetFence::RegisterHostKey(uint64_t key) {
    std::lock_guard work(work_mu_);
    const uint64_t before = host_key();
    if (key == 0 && before == 0) {
        return Status::Fail(ENOKEY, "no host key is registered on this LUN (nothing to remove)");
    }
    const FenceMode was = mode();
    // First the fence: from now on no fence counts on lunfs's own keys or reservation, which
    // are about to go (a nexus holds one key, and the data paths' become the cluster's).
    const std::string why = key != 0
                                ? fmt::format(
                                      "the cluster key {:#018x} is registered on every path (lunfs "
                                      "reservation)",
                                      key)
                                : fmt::format(
                                      "the cluster key {:#018x} was removed from every path (lunfs "
                                      "reservation); the fence stays a timer until the next mount",
                                      before);
    SetMode(FenceMode::kTimed, why);
    spdlog::warn("fence: timed only: {}", why);
    Status registered = RegisterAll(ReservationKeys::ForHostKey(key));
    if (!registered.ok()) return Status::Fail(EIO, registered.message());
    if (was != FenceMode::kReservation) return Status::Ok();
    // lunfs's leftovers: its reservation is released and its other keys (the control
    // session's, failed sessions') preempted or unregistered. The data paths now hold the host
    // key, which is not lunfs's own: Clean leaves them alone.
    Status cleaned = Status::Fail(ENOTCONN, "the control session is not up");
    if (control_ && control_->state() == PathState::kUp) cleaned = Clean(*control_, true);
    Retire();  // the control session is not needed in timed mode; its key is gone
    if (!cleaned.ok()) {
        return Status::Fail(EIO, fmt::format("the key is registered on every path, but lunfs's "
                                             "own registrations stay on the LUN: {}",
                                             cleaned.message()));
    }
    return Status::Ok();
}

Status TargetFence::HostReserveOut(uint8_t action, uint8_t type, uint64_t sa_key) {
    std::lock_guard work(work_mu_);
    const uint64_t key = host_key();
    if (key == 0) {
        return Status::Fail(ENOKEY,
                            "no key of this host is registered on the LUN: run `lunfs "
                            "reservation MOUNTPOINT register KEY` first");
    }
    std::vector<std::shared_ptr<IscsiPath>> paths;
    for (auto& p : DataPaths()) {
        if (p->state() == PathState::kUp && p->ReservationKey() == key) paths.push_back(p);
    }
    if (paths.empty()) {
        return Status::Fail(ENOTCONN, fmt::format("no path of the LUN is up and registered with "
                                                  "{:#018x}",
                                                  key));
    }
    const char* what = action == reserve::kReserve   ? "RESERVE"
                       : action == reserve::kRelease ? "RELEASE"
                       : action == reserve::kPreempt ? "PREEMPT"
                                                     : "CLEAR";
    auto failed = [&](const Status& s) {
        // Never EINVAL or ENOENT, which `lunfs reservation` reports as bad input.
        const int code = s.code() == EINVAL || s.code() == ENOENT ? EIO : s.code();
        return Status::Fail(code, fmt::format("{}: {}", what, s.message()));
    };
    if (action == reserve::kRelease) {
        // Only the I_T nexus that holds a reservation releases it (one of the all-registrants
        // types: any registrant); every other registered nexus is answered GOOD and nothing
        // happens (SPC-4 5.13.11.2.2). lunfs does not know which of its sessions reserved, so
        // every registered path sends it, as mpathpersist does.
        for (const auto& p : paths) {
            if (Status s = ReserveOut(*p, action, type, 0); !s.ok()) return failed(s);
        }
        Result<std::optional<ReservationHolder>> holder = ReadReservation(*paths.front());
        if (!holder.ok()) return failed(holder.status());
        if (holder.value() && holder.value()->key == key && holder.value()->type == type) {
            return Status::Fail(
                EBUSY, fmt::format("RELEASE: the reservation stays: it is held by a session of "
                                   "this host that is gone (a path that logged in again); move "
                                   "it to a live path with `preempt {:#x} {}`, then release it",
                                   key, type));
        }
        return Status::Ok();
    }
    if (Status s = ReserveOut(*paths.front(), action, type, sa_key); !s.ok()) return failed(s);
    if (action == reserve::kPreempt && sa_key == key) {
        // Preempting this host's own key (to move its reservation to a live path) removed the
        // key from every other nexus: they register it again.
        std::shared_ptr<ReservationKeys> keys;
        {
            std::lock_guard lock(mu_);
            keys = host_keys_;
        }
        for (size_t i = 1; i < paths.size(); ++i) {
            if (Status s = Register(*paths[i], keys); !s.ok()) return failed(s);
        }
    }
    if (action == reserve::kClear) {
        // CLEAR removed every registration, this host's too: later logins register nothing, as
        // after `register 0`, until the key is registered again.
        SetMode(FenceMode::kTimed,
                fmt::format("the LUN's reservations were cleared (lunfs reservation clear); the "
                            "fence stays a timer until the next mount"));
        const auto none = ReservationKeys::ForHostKey(0);
        {
            std::lock_guard lock(mu_);
            host_keys_ = none;
        }
        for (const auto& p : DataPaths()) (void)Register(*p, none);
    }
    return Status::Ok();
}

Result<std::string> TargetFence::ShowReservations() {
    std::lock_guard work(work_mu_);
    std::shared_ptr<IscsiPath> path;
    for (auto& p : DataPaths()) {
        if (p->state() == PathState::kUp) {
            path = p;
            break;
        }
    }
    if (!path) return Status::Fail(ENOTCONN, "no path of the LUN is up");
    Result<RegisteredKeys> keys = ReadKeys(*path);
    if (!keys.ok()) return Status::Fail(EIO, "READ KEYS: " + keys.status().message());
    Result<std::optional<ReservationHolder>> holder = ReadReservation(*path);
    if (!holder.ok()) return Status::Fail(EIO, "READ RESERVATION: " + holder.status().message());
    const uint64_t host = host_key();
    auto mark = [&](uint64_t k) -> std::string {
        if (host != 0 && k == host) return "  this host";
        if (options_.keys && options_.keys->Ours(k)) return "  lunfs (this mount's fence)";
        return "";
    };
    std::string out = host != 0 ? fmt::format("host key {:#018x}\n", host) : "host key none\n";
    out += fmt::format("generation {}\n", keys->generation);
    for (uint64_t k : keys->keys) out += fmt::format("key {:#018x}{}\n", k, mark(k));
    if (!holder.value()) {
        out += "reservation none\n";
    } else {
        const ReservationHolder& h = *holder.value();
        out += fmt::format("reservation {:#018x}  type {} {}{}\n", h.key, h.type,
                           ReservationTypeSlug(h.type), mark(h.key));
    }
    return out;
}

}  // namespace lunfs
