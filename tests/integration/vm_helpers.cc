#include "tests/integration/vm_helpers.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string Trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

// Starts `argv` with stdin from /dev/null and stdout and stderr into `log`; killed when the
// calling thread's process dies. The child's pid, or -1.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid != 0) return pid;
    // Child: only async-signal-safe calls until exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    const int null_fd = open("/dev/null", O_RDONLY);
    const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (null_fd < 0 || log_fd < 0) _exit(127);
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execvp(args[0], args.data());
    _exit(127);
}

}  // namespace

std::string MissingVmPrerequisite() {
    if (Shell("command -v qemu-system-x86_64 qemu-img qemu-io as ld mkfs.ext4 e2fsck debugfs "
              "losetup")
            .exit_code != 0) {
        return "qemu-system-x86, qemu-utils, binutils or e2fsprogs not installed";
    }
    if (Shell("losetup -f").exit_code != 0) return "no free loop device";
    return "";
}

std::string BuildBootSector(const std::string& out) {
    const std::string source = SourceDir() + "/tests/integration/vm/boot.S";
    CommandResult r = Shell("as --32 -o '" + out + ".o' '" + source + "' && ld -m elf_i386 " +
                            "-Ttext 0x7c00 --oformat binary -o '" + out + "' '" + out + ".o'");
    if (r.exit_code != 0) return "assembling " + source + " failed: " + r.output;
    const std::string image = ReadText(out);
    if (image.size() != 512) return "boot sector is " + std::to_string(image.size()) + " bytes";
    if (image[510] != '\x55' || image[511] != '\xaa') return "boot sector lacks its signature";
    return "";
}

std::vector<char> HostSector(const std::string& text, char mode) {
    std::vector<char> sector(512, 0);
    std::memcpy(sector.data(), text.data(), std::min<size_t>(text.size(), 47));
    sector[48] = mode;
    return sector;
}

QemuVm::QemuVm(const std::string& dir, const std::string& drive, DiskBus bus) {
    static std::atomic<int> counter{0};
    const std::string base = dir + "/qemu" + std::to_string(counter++);
    serial_ = base + ".serial";
    qmp_ = base + ".qmp";
    log_ = base + ".log";
    std::vector<std::string> disk = {"-drive", drive};
    if (bus == DiskBus::kVirtio) {
        disk = {"-drive", "if=none,id=disk0," + drive, "-device", "virtio-blk-pci,drive=disk0"};
    }
    std::vector<std::string> argv = {"qemu-system-x86_64",
                                     "-accel",
                                     "tcg",
                                     "-machine",
                                     "pc",
                                     "-nodefaults",
                                     "-no-user-config",
                                     "-display",
                                     "none",
                                     "-m",
                                     "16",
                                     "-no-reboot",
                                     "-serial",
                                     "file:" + serial_,
                                     "-qmp",
                                     "unix:" + qmp_ + ",server=on,wait=off",
                                     "-pidfile",
                                     base + ".pid"};
    argv.insert(argv.end(), disk.begin(), disk.end());
    pid_ = Spawn(argv, log_);
}

QemuVm::~QemuVm() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
}

std::string QemuVm::Serial() const { return ReadText(serial_); }
std::string QemuVm::Log() const { return ReadText(log_); }

bool QemuVm::WaitForSerial(const std::string& text, std::chrono::milliseconds limit) const {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
        if (Serial().find(text) != std::string::npos) return true;
        siginfo_t info{};
        if (pid_ <= 0 ||
            waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
            info.si_pid != 0) {
            // Exited (or unknown): one last look at what it printed.
            return Serial().find(text) != std::string::npos;
        }
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

int QemuVm::WaitExit(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return -1;
    const auto end = Clock::now() + limit;
    while (true) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (Clock::now() >= end) return -1;
        std::this_thread::sleep_for(50ms);
    }
}

Qmp::Qmp(const std::string& socket_path, std::chrono::milliseconds connect_limit) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof(addr.sun_path)) {
        error_ = "socket path too long: " + socket_path;
        return;
    }
    std::strcpy(addr.sun_path, socket_path.c_str());
    const auto end = Clock::now() + connect_limit;
    while (true) {
        fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) break;
        close(fd_);
        fd_ = -1;
        if (Clock::now() >= end) {
            error_ = "cannot connect to " + socket_path + ": " + std::strerror(errno);
            return;
        }
        std::this_thread::sleep_for(50ms);
    }
    const nlohmann::json greeting = ReadMessage(10s);
    const nlohmann::json caps = Execute("qmp_capabilities");
    if (greeting.is_discarded() || !greeting.contains("QMP") || !caps.contains("return")) {
        error_ = "QMP handshake failed: " + greeting.dump() + " " + caps.dump();
        close(fd_);
        fd_ = -1;
    }
}

Qmp::~Qmp() {
    if (fd_ >= 0) close(fd_);
}

nlohmann::json Qmp::ReadMessage(std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (true) {
        const size_t eol = buffer_.find('\n');
        if (eol != std::string::npos) {
            const std::string line = buffer_.substr(0, eol);
            buffer_.erase(0, eol + 1);
            if (Trim(line).empty()) continue;
            return nlohmann::json::parse(line, nullptr, false);
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
        pollfd p{fd_, POLLIN, 0};
        if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
        char buf[4096];
        const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
        if (n <= 0) break;
        buffer_.append(buf, static_cast<size_t>(n));
    }
    return nlohmann::json(nlohmann::json::value_t::discarded);
}

nlohmann::json Qmp::Execute(const std::string& command, const nlohmann::json& arguments) {
    if (fd_ < 0) return nlohmann::json(nlohmann::json::value_t::discarded);
    nlohmann::json request = {{"execute", command}};
    if (!arguments.empty()) request["arguments"] = arguments;
    const std::string text = request.dump() + "\n";
    if (send(fd_, text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size())) {
        return nlohmann::json(nlohmann::json::value_t::discarded);
    }
    while (true) {
        nlohmann::json message = ReadMessage(30s);
        if (message.is_discarded() || !message.contains("event")) return message;
        events_.push_back(std::move(message));
    }
}

std::string Qmp::Status() {
    const nlohmann::json reply = Execute("query-status");
    if (reply.is_discarded() || !reply.contains("return")) return "";
    return reply["return"].value("status", "");
}

LoopDevice::LoopDevice(const std::string& file) {
    CommandResult r = Shell("losetup -f --show '" + file + "'");
    if (r.exit_code == 0 && r.output.rfind("/dev/loop", 0) == 0) {
        device_ = Trim(r.output);
    } else {
        error_ = r.output;
    }
}

LoopDevice::~LoopDevice() {
    if (!device_.empty()) Detach();
}

CommandResult LoopDevice::Detach() {
    CommandResult r = Shell("losetup -d " + device_);
    device_.clear();
    return r;
}

KernelMount::KernelMount(const std::string& device, const std::string& mountpoint,
                         const std::string& options)
    : mountpoint_(mountpoint) {
    mkdir(mountpoint.c_str(), 0755);
    result_ = Shell("mount " + options + " " + device + " '" + mountpoint + "'");
    mounted_ = result_.exit_code == 0;
}

KernelMount::~KernelMount() {
    if (mounted_ && Unmount().exit_code != 0) Shell("umount -l '" + mountpoint_ + "'");
}

CommandResult KernelMount::Unmount() {
    mounted_ = false;
    return Shell("umount '" + mountpoint_ + "'");
}

int64_t LastProgress(const std::string& serial) {
    int64_t last = -1;
    std::istringstream in(serial);
    std::string line;
    while (std::getline(in, line)) {
        if (in.eof()) break;  // a line still being printed
        if (line.size() != 9 || line[0] != 'P') continue;
        if (line.find_first_not_of("0123456789abcdef", 1) != std::string::npos) continue;
        last = std::max<int64_t>(last, std::stoll(line.substr(1), nullptr, 16));
    }
    return last;
}

}  // namespace lunfs::test
