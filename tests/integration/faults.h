// Network faults on lab portals, for integration tests: nft rules that black-hole or reset a
// port's traffic, a flapping port, and tc rate caps on loopback. Each removes what it added in
// its destructor. Names follow lunfs_test_<pid>_<n>, so that tools/sweep can remove what a killed
// test left behind (nft tables by name; tc roots through a /tmp/lunfs_test_<pid>_<n>.tc marker
// holding the qdisc handle). Only loopback traffic is ever touched.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lunfs::test {

// A name no other fault of any test process uses: lunfs_test_<pid>_<n>.
std::string NextFaultName();

// nft rules that make some lab ports fail, removed on destruction. `drop` black-holes the
// traffic, what is already queued on lo included; otherwise every packet sent to the ports is
// answered with a TCP reset (the target's own packets pass, so the initiator's socket is the one
// that sees the reset).
class PortFault {
  public:
    PortFault(const std::vector<int>& ports, bool drop);
    ~PortFault();
    PortFault(const PortFault&) = delete;
    PortFault& operator=(const PortFault&) = delete;
    void Heal();  // removes the rules now
    bool ok() const { return ok_; }

  private:
    std::string table_;
    bool ok_ = false;
};

// A port that goes down (black-holed) for `down`, then up for `up`, over and over until the
// object is destroyed (which leaves it up).
class PortFlapper {
  public:
    PortFlapper(std::vector<int> ports, std::chrono::milliseconds down,
                std::chrono::milliseconds up);
    ~PortFlapper();
    PortFlapper(const PortFlapper&) = delete;
    PortFlapper& operator=(const PortFlapper&) = delete;
    int flaps() const { return flaps_.load(); }  // times it went down
    bool ok() const { return ok_.load(); }       // every fault could be applied

  private:
    void Run();

    const std::vector<int> ports_;
    const std::chrono::milliseconds down_, up_;
    std::atomic<int> flaps_{0};
    std::atomic<bool> ok_{true};
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;  // guarded by mu_
    std::thread thread_;
};

// Caps the traffic of some ports, both directions, to `kbit` kbit/s with an htb root qdisc on lo
// (unclassified traffic passes unshaped). Only one such cap exists on the machine at a time: the
// constructor waits for /tmp/lunfs-tc.lock, and refuses (ok() false) when lo already has a root
// qdisc of someone else's.
class PortSlow {
  public:
    PortSlow(const std::vector<int>& ports, int kbit);
    ~PortSlow();
    PortSlow(const PortSlow&) = delete;
    PortSlow& operator=(const PortSlow&) = delete;
    void Heal();  // removes the qdisc now
    bool ok() const { return ok_; }
    const std::string& error() const { return error_; }

  private:
    std::string handle_;  // hex major number of our root qdisc; empty once removed
    std::string marker_;  // /tmp/<name>.tc
    int lock_fd_ = -1;
    bool ok_ = false;
    std::string error_;
};

}  // namespace lunfs::test
