// FakeTarget: a scripted iSCSI target on 127.0.0.1 for tests of the code that drives libiscsi
// (IscsiPath, discovery). It speaks just enough of the protocol for libiscsi: login without
// authentication (header and data digests off), SCSI commands with immediate and unsolicited
// data, NOP-Out and logout. Each SCSI command is answered by a handler the test gives; the
// default one is a small 512-byte-block disk. One connection at a time; a new one replaces it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lunfs::test {

struct ScsiRequest {
    int lun = 0;
    std::array<uint8_t, 16> cdb{};
    uint32_t expected_length = 0;   // the command's expected data transfer length
    std::vector<uint8_t> data_out;  // what the initiator wrote
    uint8_t opcode() const { return cdb[0]; }
};

struct ScsiReply {
    uint8_t status = 0;                  // SCSI status byte: 0 GOOD, 2 CHECK CONDITION, ...
    std::vector<uint8_t> data;           // data-in; cut to the expected length like a real target's
    std::vector<uint8_t> sense;          // sent with the status; empty: no sense data
    bool silent = false;                 // never answer
    std::chrono::milliseconds delay{0};  // answer this much later (other commands go on)

    static ScsiReply Good(std::vector<uint8_t> data = {}) {
        ScsiReply r;
        r.data = std::move(data);
        return r;
    }
    // CHECK CONDITION with fixed-format sense data.
    static ScsiReply Check(uint8_t key, uint8_t asc, uint8_t ascq);
};

class FakeTarget {
  public:
    using Handler = std::function<ScsiReply(const ScsiRequest&)>;
    static constexpr const char* kIqn = "iqn.2026-11.io.lunfs.test:fake";

    // Listens on an ephemeral loopback port and serves on its own thread. `handler` runs there.
    explicit FakeTarget(Handler handler = DiskAnswer);
    ~FakeTarget();  // closes the connection and the listener, and joins
    FakeTarget(const FakeTarget&) = delete;
    FakeTarget& operator=(const FakeTarget&) = delete;

    int port() const { return port_; }
    std::string Url(int lun = 1) const;         // iscsi://127.0.0.1:<port>/<kIqn>/<lun>
    std::vector<ScsiRequest> Requests() const;  // every SCSI command received so far
    int logins() const { return logins_.load(); }
    // SCSI commands answered so far: the reply was written (or, with a delay, scheduled).
    int answered() const { return answered_.load(); }
    // Drops the current connection (an RST, as a dying target would send).
    void DropConnection() { drop_ = true; }
    // Leaves LOGOUT requests unanswered (a session then ends still logged in).
    void IgnoreLogouts() { ignore_logouts_ = true; }

    // The default disk: 2048 blocks of 512 bytes, serial "fake-serial", one NAA designator.
    // INQUIRY (standard, VPD 0x80, 0x83, 0xB0), READ CAPACITY(16), TEST UNIT READY, READ(16)
    // (zeros), WRITE(16), SYNCHRONIZE CACHE(16) and REPORT LUNS (LUN 1) succeed; anything else
    // is ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE.
    static ScsiReply DiskAnswer(const ScsiRequest& request);
    // A VPD page: the header (page code, 16-bit length) and `body`.
    static std::vector<uint8_t> VpdPage(uint8_t code, const std::vector<uint8_t>& body);

  private:
    struct Connection;
    void Run();
    void Serve(int fd);

    Handler handler_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<bool> drop_{false};
    std::atomic<bool> ignore_logouts_{false};
    std::atomic<int> logins_{0};
    std::atomic<int> answered_{0};
    mutable std::mutex mu_;
    std::vector<ScsiRequest> requests_;  // guarded by mu_
    std::thread thread_;
};

}  // namespace lunfs::test
