#include "tests/unit/fakes/fake_path.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace lunfs::fakes {

std::vector<uint8_t> ByteStore::Read(uint64_t offset, uint64_t length) const {
    std::lock_guard lock(mu_);
    const auto begin = data_.begin() + static_cast<std::ptrdiff_t>(offset);
    return std::vector<uint8_t>(begin, begin + static_cast<std::ptrdiff_t>(length));
}

void ByteStore::Write(uint64_t offset, const std::vector<uint8_t>& bytes) {
    std::lock_guard lock(mu_);
    std::memcpy(data_.data() + offset, bytes.data(), bytes.size());
}

void ByteStore::CopyOut(uint64_t offset, const std::vector<iovec>& iov) const {
    std::lock_guard lock(mu_);
    for (const iovec& v : iov) {
        std::memcpy(v.iov_base, data_.data() + offset, v.iov_len);
        offset += v.iov_len;
    }
}

void ByteStore::CopyIn(uint64_t offset, const std::vector<iovec>& iov) {
    std::lock_guard lock(mu_);
    for (const iovec& v : iov) {
        std::memcpy(data_.data() + offset, v.iov_base, v.iov_len);
        offset += v.iov_len;
    }
}

void ByteStore::Zero(uint64_t offset, uint64_t length) {
    std::lock_guard lock(mu_);
    std::fill(data_.begin() + static_cast<ptrdiff_t>(offset),
              data_.begin() + static_cast<ptrdiff_t>(offset + length), 0);
}

LunInfo MakeLunInfo(std::string identity, uint32_t block_size, uint64_t blocks,
                    uint32_t max_transfer_blocks) {
    LunInfo info;
    info.identity = std::move(identity);
    info.capacity.block_size = block_size;
    info.capacity.blocks = blocks;
    info.limits.max_transfer_blocks = max_transfer_blocks;
    return info;
}

uint64_t IovBytes(const std::vector<iovec>& iov) {
    uint64_t total = 0;
    for (const iovec& v : iov) total += v.iov_len;
    return total;
}

FakePath::FakePath(std::string name, LunInfo info, std::shared_ptr<ByteStore> store,
                   PathState state)
    : name_(std::move(name)), info_(std::move(info)), store_(std::move(store)), state_(state) {}

FakePath::~FakePath() {
    if (cancel_on_destroy_) {
        CompleteAll(Status::Retryable(ECANCELED, name_ + ": closed", Scope::kPath));
    }
}

void FakePath::Submit(PathCommand command) {
    Held held{Command{command.kind, command.lba, command.blocks, std::move(command.iov),
                      command.send_from_submitter, command.fua},
              std::move(command.done)};
    std::lock_guard lock(mu_);
    history_.push_back(held.command);
    held_.push_back(std::move(held));
    counters_.in_flight++;
}

PathState FakePath::state() const {
    std::lock_guard lock(mu_);
    return state_;
}

void FakePath::SetStateListener(StateListener listener) {
    std::lock_guard lock(mu_);
    listener_ = std::move(listener);
}

void FakePath::SetState(PathState state) {
    StateListener listener;
    {
        std::lock_guard lock(mu_);
        state_ = state;
        listener = listener_;
    }
    if (listener) listener(state);
}

void FakePath::Reset(std::string reason) {
    {
        std::lock_guard lock(mu_);
        ++resets_;
        reset_reason_ = reason;
    }
    CompleteAll(Status::Retryable(ECANCELED, name_ + ": reset: " + reason, Scope::kPath));
    SetState(PathState::kDown);
}

size_t FakePath::Pending() const {
    std::lock_guard lock(mu_);
    return held_.size();
}

FakePath::Command FakePath::At(size_t index) const {
    std::lock_guard lock(mu_);
    return held_.at(index).command;
}

std::vector<FakePath::Command> FakePath::PendingCommands() const {
    std::lock_guard lock(mu_);
    std::vector<Command> out;
    for (const Held& h : held_) out.push_back(h.command);
    return out;
}

std::vector<FakePath::Command> FakePath::Submitted() const {
    std::lock_guard lock(mu_);
    return history_;
}

bool FakePath::Complete(size_t index, Status status) {
    Held held;
    {
        std::lock_guard lock(mu_);
        if (index >= held_.size()) return false;
        held = std::move(held_[index]);
        held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(index));
    }
    Finish(std::move(held), std::move(status));
    return true;
}

size_t FakePath::CompleteAll(Status status) {
    std::deque<Held> now;
    {
        std::lock_guard lock(mu_);
        now.swap(held_);
    }
    for (Held& h : now) Finish(std::move(h), status);
    return now.size();
}

void FakePath::Finish(Held held, Status status) {
    const Command& c = held.command;
    const uint64_t bytes = uint64_t{c.blocks} * info_.capacity.block_size;
    counters_.in_flight--;
    if (status.ok()) {
        const uint64_t at = c.lba * info_.capacity.block_size;
        switch (c.kind) {
            case CommandKind::kRead:
                if (store_) store_->CopyOut(at, c.iov);
                counters_.reads++;
                counters_.bytes_read += bytes;
                break;
            case CommandKind::kWrite:
                if (store_) store_->CopyIn(at, c.iov);
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
                if (store_) store_->Zero(at, bytes);
                counters_.discards++;
                break;
            case CommandKind::kReserveIn:
            case CommandKind::kReserveOut:
            case CommandKind::kLunReset:
                break;
        }
    } else {
        counters_.failures++;
    }
    held.done(std::move(status));
}

int FakePath::resets() const {
    std::lock_guard lock(mu_);
    return resets_;
}

std::string FakePath::last_reset_reason() const {
    std::lock_guard lock(mu_);
    return reset_reason_;
}

bool FakePath::has_listener() const {
    std::lock_guard lock(mu_);
    return static_cast<bool>(listener_);
}

}  // namespace lunfs::fakes
