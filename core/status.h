// Status and Result: the error values that cross every module boundary in lunfs.
//
// A Status is "ok" or carries an errno-style code plus what the caller needs to decide what to do
// next: whether retrying elsewhere may succeed, how far the failure reaches (one extent, one path,
// the whole LUN), and the SCSI sense data when the target sent some. No exceptions on the I/O path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace lunfs {

// How far a failure reaches.
enum class Scope : uint8_t {
    kNone,    // ok
    kExtent,  // this command only (e.g. a timeout on an otherwise healthy session)
    kPath,    // the session or connection that carried it is gone
    kLun,     // the logical unit itself refused it; another path will say the same
};

// SCSI sense data as key / additional sense code / qualifier.
struct Sense {
    uint8_t key = 0;
    uint8_t asc = 0;
    uint8_t ascq = 0;
    friend bool operator==(const Sense&, const Sense&) = default;
};

class [[nodiscard]] Status {
  public:
    Status() = default;  // ok

    static Status Ok() { return Status(); }
    // A failure that retrying will not cure.
    static Status Fail(int code, std::string message, Scope scope = Scope::kLun) {
        return Status(code, false, scope, std::nullopt, std::move(message));
    }
    // A failure that may succeed when sent again (on this or another path).
    static Status Retryable(int code, std::string message, Scope scope) {
        return Status(code, true, scope, std::nullopt, std::move(message));
    }
    static Status WithSense(int code, bool retryable, Sense sense, std::string message) {
        return Status(code, retryable, Scope::kLun, sense, std::move(message));
    }

    // The same status with another scope.
    Status AtScope(Scope scope) && {
        scope_ = scope;
        return std::move(*this);
    }

    bool ok() const { return code_ == 0; }
    int code() const { return code_; }  // a positive errno value, 0 when ok
    bool retryable() const { return retryable_; }
    Scope scope() const { return scope_; }
    const std::optional<Sense>& sense() const { return sense_; }
    const std::string& message() const { return message_; }

    // One line for logs and error messages: "message (errno name[, sense k/asc/ascq])".
    std::string ToString() const;

  private:
    Status(int code, bool retryable, Scope scope, std::optional<Sense> sense, std::string message)
        : code_(code),
          retryable_(retryable),
          scope_(scope),
          sense_(sense),
          message_(std::move(message)) {}

    int code_ = 0;
    bool retryable_ = false;
    Scope scope_ = Scope::kNone;
    std::optional<Sense> sense_;
    std::string message_;
};

// A value or the Status saying why there is none.
template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
    Result(Status status) : status_(std::move(status)) {}  // NOLINT: must not be ok

    bool ok() const { return value_.has_value(); }
    const Status& status() const { return status_; }
    T& value() & { return *value_; }
    const T& value() const& { return *value_; }
    T&& value() && { return std::move(*value_); }
    T* operator->() { return &*value_; }
    const T* operator->() const { return &*value_; }

  private:
    std::optional<T> value_;
    Status status_;
};

}  // namespace lunfs
