#include "tests/integration/faults.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "tests/integration/harness.h"

namespace lunfs::test {

std::string NextFaultName() {
    static std::atomic<int> counter{0};
    return "lunfs_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
}

PortFault::PortFault(const std::vector<int>& ports, bool drop) {
    table_ = NextFaultName();
    std::string rules;
    for (int port : ports) {
        const std::string p = std::to_string(port);
        if (!drop) {
            // A reset answers our packets with RST, which must reach us: the target's packets,
            // RSTs included, pass (and meet our closed socket, which resets the target's side).
            rules += "add rule inet " + table_ + " out tcp dport " + p + " reject with tcp reset\n";
            continue;
        }
        // Both directions, at the output hook and again at the input hook: packets already
        // past the output (waiting in a qdisc on lo, like bytes on a wire) are lost on arrival.
        for (const char* chain : {"out", "in"}) {
            for (const char* dir : {"sport", "dport"}) {
                rules +=
                    "add rule inet " + table_ + " " + chain + " tcp " + dir + " " + p + " drop\n";
            }
        }
    }
    const std::string file = "/tmp/" + table_ + ".nft";
    {
        std::ofstream out(file);
        out << "add table inet " << table_ << "\n"
            << "add chain inet " << table_ << " out { type filter hook output priority 0; }\n";
        if (drop) {
            out << "add chain inet " << table_ << " in { type filter hook input priority 0; }\n";
        }
        out << rules;
    }
    CommandResult r = Shell("nft -f " + file);
    std::remove(file.c_str());
    ok_ = r.exit_code == 0;
}

PortFault::~PortFault() { Heal(); }

void PortFault::Heal() {
    if (table_.empty()) return;
    Shell("nft delete table inet " + table_);
    table_.clear();
}

PortFlapper::PortFlapper(std::vector<int> ports, std::chrono::milliseconds down,
                         std::chrono::milliseconds up)
    : ports_(std::move(ports)), down_(down), up_(up), thread_(&PortFlapper::Run, this) {}

PortFlapper::~PortFlapper() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void PortFlapper::Run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
        {
            PortFault fault(ports_, true);
            if (!fault.ok()) ok_ = false;
            ++flaps_;
            cv_.wait_for(lock, down_, [&] { return stop_; });
        }
        cv_.wait_for(lock, up_, [&] { return stop_; });
    }
}

namespace {

// The root qdisc of lo as "kind handle" ("noqueue 0:" when there is none of anyone's).
std::string LoRoot() {
    CommandResult r = Shell("tc qdisc show dev lo | awk '/ root /{print $2, $3; exit}'");
    std::string out = r.output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

}  // namespace

PortSlow::PortSlow(const std::vector<int>& ports, int kbit) {
    lock_fd_ = open("/tmp/lunfs-tc.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX) != 0) {
        error_ = "cannot take /tmp/lunfs-tc.lock";
        return;
    }
    const std::string root = LoRoot();
    if (!root.empty() && root != "noqueue 0:") {
        error_ = "lo already has a root qdisc (" + root + ")";
        return;
    }
    std::mt19937 random(std::random_device{}());
    char handle[8];
    std::snprintf(handle, sizeof(handle), "%x", 0x1000 + static_cast<int>(random() % 0xe000));
    const std::string name = NextFaultName();
    marker_ = "/tmp/" + name + ".tc";
    std::ofstream(marker_) << handle << "\n";  // before adding: sweep must know it in any case
    handle_ = handle;
    std::string script = "set -e\ntc qdisc add dev lo root handle " + handle_ + ": htb\n" +
                         "tc class add dev lo parent " + handle_ + ": classid " + handle_ +
                         ":1 htb rate " + std::to_string(kbit) + "kbit ceil " +
                         std::to_string(kbit) + "kbit burst 4k cburst 4k\n";
    for (int port : ports) {
        for (const char* dir : {"dport", "sport"}) {
            script += "tc filter add dev lo parent " + handle_ +
                      ": protocol ip prio 1 u32 match ip protocol 6 0xff match ip " + dir + " " +
                      std::to_string(port) + " 0xffff flowid " + handle_ + ":1\n";
        }
    }
    CommandResult r = Shell(script);
    ok_ = r.exit_code == 0;
    if (!ok_) error_ = r.output;
}

PortSlow::~PortSlow() {
    Heal();
    if (lock_fd_ >= 0) close(lock_fd_);  // releases the lock
}

void PortSlow::Heal() {
    if (!handle_.empty()) {
        if (LoRoot() == "htb " + handle_ + ":") Shell("tc qdisc del dev lo root");
        handle_.clear();
    }
    if (!marker_.empty()) {
        std::remove(marker_.c_str());
        marker_.clear();
    }
}

}  // namespace lunfs::test
