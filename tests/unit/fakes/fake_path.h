// FakePath: a PathIo for engine unit tests, stepped by hand.
//
// Every command submitted is held until the test completes it with Complete() or CompleteAll();
// `done` never runs inside Submit(), as PathIo promises. Held commands can be inspected (kind,
// LBA, blocks, iovecs) and stay valid until completed. When the path has a ByteStore, completing
// a command with an ok status moves real bytes at that moment: a read copies the store into the
// command's iovecs, a write copies its iovecs into the store. Several FakePaths of one LUN share
// one store, so the order in which a test completes commands is the order the bytes see.
//
// SetState() changes state() and calls the listener (every time, changed or not). Reset()
// records the call, completes every held command with a retryable kPath ECANCELED status and
// then goes kDown, like a session torn down. A command submitted while the path is not up is
// held like any other: the test decides how it ends.
//
// Thread-safe; callbacks and the listener run with no internal lock held, on the calling thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "paths/path_io.h"

namespace lunfs::fakes {

// The bytes of one fake LUN.
class ByteStore {
  public:
    explicit ByteStore(uint64_t bytes) : data_(bytes, 0) {}

    uint64_t size() const { return data_.size(); }
    std::vector<uint8_t> Read(uint64_t offset, uint64_t length) const;
    void Write(uint64_t offset, const std::vector<uint8_t>& bytes);
    // The bytes at `offset` into, or from, the memory `iov` describes.
    void CopyOut(uint64_t offset, const std::vector<iovec>& iov) const;
    void CopyIn(uint64_t offset, const std::vector<iovec>& iov);
    void Zero(uint64_t offset, uint64_t length);

  private:
    mutable std::mutex mu_;
    std::vector<uint8_t> data_;  // guarded by mu_; its size never changes
};

// A LunInfo as a path would report it after login.
LunInfo MakeLunInfo(std::string identity, uint32_t block_size, uint64_t blocks,
                    uint32_t max_transfer_blocks = 0);

// The iovec length total.
uint64_t IovBytes(const std::vector<iovec>& iov);

class FakePath final : public PathIo {
  public:
    // A command as the path received it (without its callback).
    struct Command {
        CommandKind kind = CommandKind::kRead;
        uint64_t lba = 0;
        uint32_t blocks = 0;
        std::vector<iovec> iov;
        bool send_from_submitter = false;
        bool fua = false;
    };

    FakePath(std::string name, LunInfo info, std::shared_ptr<ByteStore> store = nullptr,
             PathState state = PathState::kUp);
    // With CancelOnDestroy(), completes the commands it still holds with a retryable kPath
    // ECANCELED status, as a closed session does.
    ~FakePath() override;
    void CancelOnDestroy() { cancel_on_destroy_ = true; }

    // PathIo.
    void Submit(PathCommand command) override;
    PathState state() const override;
    const LunInfo& info() const override { return info_; }
    const std::string& name() const override { return name_; }
    const PathCounters& counters() const override { return counters_; }
    void SetStateListener(StateListener listener) override;
    void Reset(std::string reason) override;

    // Held commands, oldest first.
    size_t Pending() const;
    Command At(size_t index) const;  // index < Pending()
    std::vector<Command> PendingCommands() const;
    // Every command ever submitted, in order, completed or not.
    std::vector<Command> Submitted() const;

    // Completes the held command at `index` with `status`; false when there is none.
    bool Complete(size_t index, Status status = Status::Ok());
    // Completes the commands held now, oldest first, with `status`; commands their callbacks
    // submit stay held. Returns how many it completed.
    size_t CompleteAll(Status status = Status::Ok());

    void SetState(PathState state);
    int resets() const;
    std::string last_reset_reason() const;
    bool has_listener() const;

  private:
    struct Held {
        Command command;
        std::function<void(Status)> done;
    };
    // Applies `held` to the store (when ok) and runs its callback. No lock held.
    void Finish(Held held, Status status);

    const std::string name_;
    const LunInfo info_;
    const std::shared_ptr<ByteStore> store_;
    PathCounters counters_;
    mutable std::mutex mu_;
    PathState state_;               // guarded by mu_
    StateListener listener_;        // guarded by mu_
    std::deque<Held> held_;         // guarded by mu_
    std::vector<Command> history_;  // guarded by mu_
    int resets_ = 0;                // guarded by mu_
    bool cancel_on_destroy_ = false;
    std::string reset_reason_;  // guarded by mu_
};

}  // namespace lunfs::fakes
