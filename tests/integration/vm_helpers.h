// Helpers for the VM-hosting tests: a qemu process and its QMP monitor, loop devices, kernel
// mounts and the boot sector, each undone by its destructor so a failed assertion leaves nothing
// behind. tools/sweep removes what a killed test process left of them (qemu by its pid file,
// loop devices and mounts by their paths under the test directory).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace lunfs::test {

// Why the VM tests cannot run here ("" when they can): qemu, binutils, e2fsprogs, loop devices.
std::string MissingVmPrerequisite();

// Assembles tests/integration/vm/boot.S into a 512-byte boot sector at `out`; "" or the error.
std::string BuildBootSector(const std::string& out);

// The sector the boot sector reads at LBA 8: `text` (under 48 bytes), then `mode` ('H': halt
// after the first write, 'L': write and read back in a loop).
std::vector<char> HostSector(const std::string& text, char mode);

inline constexpr uint64_t kHostLba = 8;    // read by the guest
inline constexpr uint64_t kGuestLba = 16;  // written by the guest: "GUEST " + the host text
inline constexpr uint64_t kLoopLba = 64;   // 64 sectors the guest's loop writes in turn

// How the guest sees its disk. IDE is what a BIOS-era guest boots from. Under werror/rerror=stop
// qemu's IDE PIO clears BSY before the VM has stopped, so a guest polling the status register
// can see a failed command end without data and report a disk error; virtio-blk holds a failed
// request, unanswered, until `cont` retries it.
enum class DiskBus { kIde, kVirtio };

// qemu-system-x86_64 (TCG, no display, 16 MiB) with `drive` as its only disk, COM1 into a file
// and a QMP socket. Killed (SIGKILL) and reaped on destruction; also killed by the kernel if the
// test process dies (PR_SET_PDEATHSIG), and by tools/sweep through its pid file.
class QemuVm {
  public:
    QemuVm(const std::string& dir, const std::string& drive, DiskBus bus = DiskBus::kIde);
    ~QemuVm();
    QemuVm(const QemuVm&) = delete;
    QemuVm& operator=(const QemuVm&) = delete;

    bool started() const { return pid_ > 0; }
    const std::string& qmp_socket() const { return qmp_; }
    std::string Serial() const;  // what the guest printed so far
    std::string Log() const;     // qemu's own stdout and stderr
    // Waits until the serial output contains `text`; false after `limit` or if qemu exits.
    bool WaitForSerial(const std::string& text, std::chrono::milliseconds limit) const;
    // Waits up to `limit` for qemu to exit; its exit code, or -1 if it still runs.
    int WaitExit(std::chrono::milliseconds limit);

  private:
    std::string serial_;
    std::string qmp_;
    std::string log_;
    pid_t pid_ = -1;
};

// A QMP client on a unix socket: capabilities negotiated on connect, events kept aside.
class Qmp {
  public:
    explicit Qmp(const std::string& socket,
                 std::chrono::milliseconds connect_limit = std::chrono::seconds(20));
    ~Qmp();
    Qmp(const Qmp&) = delete;
    Qmp& operator=(const Qmp&) = delete;

    bool ok() const { return fd_ >= 0; }
    const std::string& error() const { return error_; }
    // Runs one command; its reply object (with "return" or "error"), or a discarded value.
    nlohmann::json Execute(const std::string& command,
                           const nlohmann::json& arguments = nlohmann::json::object());
    // query-status's "status" ("running", "io-error", ...), or "" if it cannot be had.
    std::string Status();
    const std::vector<nlohmann::json>& events() const { return events_; }

  private:
    nlohmann::json ReadMessage(std::chrono::milliseconds limit);  // next object, events included

    int fd_ = -1;
    std::string buffer_;
    std::string error_;
    std::vector<nlohmann::json> events_;
};

// A loop device over `file`, detached on destruction.
class LoopDevice {
  public:
    explicit LoopDevice(const std::string& file);
    ~LoopDevice();
    LoopDevice(const LoopDevice&) = delete;
    LoopDevice& operator=(const LoopDevice&) = delete;

    bool ok() const { return !device_.empty(); }
    const std::string& device() const { return device_; }
    const std::string& error() const { return error_; }
    CommandResult Detach();  // losetup -d now; the destructor does nothing after it

  private:
    std::string device_;
    std::string error_;
};

// A kernel mount of `device` on `mountpoint` (created), unmounted on destruction.
class KernelMount {
  public:
    KernelMount(const std::string& device, const std::string& mountpoint,
                const std::string& options = "");
    ~KernelMount();
    KernelMount(const KernelMount&) = delete;
    KernelMount& operator=(const KernelMount&) = delete;

    bool ok() const { return mounted_; }
    const CommandResult& result() const { return result_; }
    CommandResult Unmount();  // umount now; the destructor does nothing after it

  private:
    std::string mountpoint_;
    CommandResult result_;
    bool mounted_ = false;
};

// The highest progress count the looping guest printed ("P" + 8 hex digits per line), or -1.
int64_t LastProgress(const std::string& serial);

}  // namespace lunfs::test
