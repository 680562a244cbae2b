#include "tests/unit/paths/fake_target.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

namespace lunfs::test {

namespace {

using Clock = std::chrono::steady_clock;
using Pdu = std::vector<uint8_t>;

constexpr uint32_t kBlocks = 2048;
constexpr uint32_t kBlockSize = 512;

uint32_t Get32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
           static_cast<uint32_t>(p[2]) << 8 | p[3];
}
uint32_t Get24(const uint8_t* p) { return static_cast<uint32_t>(p[0]) << 16 | p[1] << 8 | p[2]; }
void Put32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
void Put64(uint8_t* p, uint64_t v) {
    Put32(p, static_cast<uint32_t>(v >> 32));
    Put32(p + 4, static_cast<uint32_t>(v));
}

// Reads exactly `size` bytes; false when the peer went away or the target stops.
bool ReadAll(int fd, uint8_t* out, size_t size, const std::atomic<bool>& stop) {
    while (size > 0) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) {
            if (stop) return false;
            continue;
        }
        const ssize_t n = read(fd, out, size);
        if (n <= 0) return false;
        out += n;
        size -= static_cast<size_t>(n);
    }
    return true;
}

Pdu Text(std::initializer_list<std::string_view> keys) {
    Pdu out;
    for (std::string_view k : keys) {
        out.insert(out.end(), k.begin(), k.end());
        out.push_back(0);
    }
    return out;
}

std::vector<uint8_t> Padded(std::string_view text, size_t width) {
    std::vector<uint8_t> out(width, ' ');
    std::copy(text.begin(), text.begin() + static_cast<ptrdiff_t>(std::min(width, text.size())),
              out.begin());
    return out;
}

}  // namespace

// One connection's sequence numbers and the answers that wait for their time.
struct FakeTarget::Connection {
    int fd = -1;
    uint32_t stat_sn = 1;
    uint32_t exp_cmd_sn = 0;
    struct Later {
        Clock::time_point due;
        Pdu bhs, data;
    };
    std::vector<Later> later;
    std::map<uint32_t, ScsiRequest> writing;  // commands still receiving data, by ITT

    // Fills in the sequence numbers and sends (or keeps for later) one PDU.
    void Send(Pdu bhs, Pdu data, std::chrono::milliseconds delay = {}) {
        bhs[5] = static_cast<uint8_t>(data.size() >> 16);
        bhs[6] = static_cast<uint8_t>(data.size() >> 8);
        bhs[7] = static_cast<uint8_t>(data.size());
        if (delay.count() > 0) {
            later.push_back({Clock::now() + delay, std::move(bhs), std::move(data)});
            return;
        }
        Put32(&bhs[24], stat_sn++);
        Put32(&bhs[28], exp_cmd_sn);
        Put32(&bhs[32], exp_cmd_sn + 64);
        data.resize((data.size() + 3) & ~size_t{3});
        Pdu all = std::move(bhs);
        all.insert(all.end(), data.begin(), data.end());
        [[maybe_unused]] ssize_t n = write(fd, all.data(), all.size());
    }
    void SendDue() {
        const auto now = Clock::now();
        for (size_t i = 0; i < later.size();) {
            if (later[i].due > now) {
                ++i;
                continue;
            }
            Later l = std::move(later[i]);
            later.erase(later.begin() + static_cast<ptrdiff_t>(i));
            Send(std::move(l.bhs), std::move(l.data));
        }
    }
};

ScsiReply ScsiReply::Check(uint8_t key, uint8_t asc, uint8_t ascq) {
    ScsiReply r;
    r.status = 0x02;
    r.sense.assign(18, 0);
    r.sense[0] = 0x70;
    r.sense[2] = key;
    r.sense[7] = 10;
    r.sense[12] = asc;
    r.sense[13] = ascq;
    return r;
}

FakeTarget::FakeTarget(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
        listen(listen_fd_, 4) == 0 &&
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port_ = ntohs(addr.sin_port);
    }
    thread_ = std::thread(&FakeTarget::Run, this);
}

FakeTarget::~FakeTarget() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
}

std::string FakeTarget::Url(int lun) const {
    return "iscsi://127.0.0.1:" + std::to_string(port_) + "/" + kIqn + "/" + std::to_string(lun);
}

std::vector<ScsiRequest> FakeTarget::Requests() const {
    std::lock_guard lock(mu_);
    return requests_;
}

void FakeTarget::Run() {
    while (!stop_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) continue;
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        drop_ = false;
        Serve(fd);
        const linger hard{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
        close(fd);
    }
}

void FakeTarget::Serve(int fd) {
    Connection c;
    c.fd = fd;
    auto reply_bhs = [](uint8_t opcode, const uint8_t* request) {
        Pdu bhs(48, 0);
        bhs[0] = opcode;
        bhs[1] = 0x80;
        std::memcpy(&bhs[8], request + 8, 8);    // LUN
        std::memcpy(&bhs[16], request + 16, 4);  // ITT
        return bhs;
    };
    auto answer = [&](const ScsiRequest& request, const uint8_t* hdr) {
        {
            std::lock_guard lock(mu_);
            requests_.push_back(request);
        }
        ScsiReply r = handler_(request);
        if (r.silent) return;
        Pdu data = std::move(r.data);
        const uint32_t want = request.expected_length;
        const uint32_t residual = data.size() < want ? want - static_cast<uint32_t>(data.size())
                                                     : static_cast<uint32_t>(data.size()) - want;
        const uint8_t under = data.size() < want ? 0x02 : data.size() > want ? 0x04 : 0;
        if (data.size() > want) data.resize(want);
        if (r.status == 0 && !data.empty()) {
            Pdu bhs = reply_bhs(0x25, hdr);
            bhs[1] = static_cast<uint8_t>(0x81 | under);  // final, with status
            Put32(&bhs[20], 0xffffffff);
            Put32(&bhs[44], under ? residual : 0);
            c.Send(std::move(bhs), std::move(data), r.delay);
            answered_++;
            return;
        }
        Pdu bhs = reply_bhs(0x21, hdr);
        bhs[3] = r.status;
        std::memset(&bhs[8], 0, 8);
        Pdu sense;
        if (!r.sense.empty()) {
            sense.assign(2 + r.sense.size(), 0);
            sense[0] = static_cast<uint8_t>(r.sense.size() >> 8);
            sense[1] = static_cast<uint8_t>(r.sense.size());
            std::copy(r.sense.begin(), r.sense.end(), sense.begin() + 2);
        }
        c.Send(std::move(bhs), std::move(sense), r.delay);
        answered_++;
    };

    for (;;) {
        c.SendDue();
        if (stop_ || drop_) return;
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 10) <= 0) continue;
        uint8_t hdr[48];
        if (!ReadAll(fd, hdr, sizeof(hdr), stop_)) return;
        Pdu data((4 * hdr[4] + Get24(&hdr[5]) + 3) & ~uint32_t{3});
        if (!data.empty() && !ReadAll(fd, data.data(), data.size(), stop_)) return;
        data.resize(Get24(&hdr[5]) + 4 * hdr[4]);
        data.erase(data.begin(), data.begin() + 4 * hdr[4]);  // no AHS is used
        const uint8_t opcode = hdr[0] & 0x3f;
        const bool immediate = (hdr[0] & 0x40) != 0;
        if (!immediate && opcode != 0x05 && opcode != 0x03) c.exp_cmd_sn = Get32(&hdr[24]) + 1;
        switch (opcode) {
            case 0x03: {  // login: takes no command number
                c.exp_cmd_sn = Get32(&hdr[24]);
                c.stat_sn = Get32(&hdr[28]);
                Pdu bhs = reply_bhs(0x23, hdr);
                bhs[1] = static_cast<uint8_t>(0x80 | (hdr[1] & 0x0f));
                std::memcpy(&bhs[8], hdr + 8, 6);  // ISID
                bhs[15] = 1;                       // TSIH
                const bool secneg = ((hdr[1] >> 2) & 3) == 0;
                if ((hdr[1] & 3) == 3) logins_++;
                c.Send(std::move(bhs),
                       secneg ? Text({"AuthMethod=None"})
                              : Text({"HeaderDigest=None", "DataDigest=None", "ImmediateData=Yes",
                                      "InitialR2T=No", "FirstBurstLength=262144",
                                      "MaxBurstLength=262144", "MaxRecvDataSegmentLength=262144"}));
                break;
            }
            case 0x01: {  // SCSI command
                ScsiRequest request;
                request.lun = hdr[9];
                std::memcpy(request.cdb.data(), hdr + 32, 16);
                request.expected_length = Get32(&hdr[20]);
                request.data_out = std::move(data);
                const bool writes = (hdr[1] & 0x20) != 0;
                if (writes && request.data_out.size() < request.expected_length) {
                    c.writing[Get32(&hdr[16])] = std::move(request);
                    break;
                }
                answer(request, hdr);
                break;
            }
            case 0x05: {  // SCSI Data-Out
                auto it = c.writing.find(Get32(&hdr[16]));
                if (it == c.writing.end()) break;
                ScsiRequest& request = it->second;
                request.data_out.insert(request.data_out.end(), data.begin(), data.end());
                if (request.data_out.size() >= request.expected_length) {
                    ScsiRequest done = std::move(request);
                    c.writing.erase(it);
                    answer(done, hdr);
                }
                break;
            }
            case 0x00:  // NOP-Out
                if (Get32(&hdr[16]) != 0xffffffff) {
                    Pdu bhs = reply_bhs(0x20, hdr);
                    Put32(&bhs[20], 0xffffffff);
                    c.Send(std::move(bhs), std::move(data));
                }
                break;
            case 0x02: {  // task management: done
                Pdu bhs = reply_bhs(0x22, hdr);
                std::memset(&bhs[8], 0, 8);
                c.Send(std::move(bhs), {});
                break;
            }
            case 0x06: {  // logout
                if (ignore_logouts_) break;
                Pdu bhs = reply_bhs(0x26, hdr);
                std::memset(&bhs[8], 0, 8);
                c.Send(std::move(bhs), {});
                return;
            }
            default:
                return;
        }
    }
}

std::vector<uint8_t> FakeTarget::VpdPage(uint8_t code, const std::vector<uint8_t>& body) {
    std::vector<uint8_t> page(4 + body.size(), 0);
    page[1] = code;
    page[2] = static_cast<uint8_t>(body.size() >> 8);
    page[3] = static_cast<uint8_t>(body.size());
    std::copy(body.begin(), body.end(), page.begin() + 4);
    return page;
}

ScsiReply FakeTarget::DiskAnswer(const ScsiRequest& r) {
    const uint8_t* cdb = r.cdb.data();
    switch (r.opcode()) {
        case 0x00:  // TEST UNIT READY
        case 0x2a:  // WRITE(10)
        case 0x8a:  // WRITE(16)
        case 0x91:  // SYNCHRONIZE CACHE(16)
            return ScsiReply::Good();
        case 0x88:  // READ(16)
            return ScsiReply::Good(std::vector<uint8_t>(r.expected_length, 0));
        case 0xa0: {  // REPORT LUNS: LUN 1
            std::vector<uint8_t> d(16, 0);
            d[3] = 8;
            d[9] = 1;
            return ScsiReply::Good(std::move(d));
        }
        case 0x9e: {  // READ CAPACITY(16)
            std::vector<uint8_t> d(32, 0);
            Put64(&d[0], kBlocks - 1);
            Put32(&d[8], kBlockSize);
            return ScsiReply::Good(std::move(d));
        }
        case 0x12:  // INQUIRY
            break;
        default:
            return ScsiReply::Check(0x05, 0x20, 0x00);
    }
    if ((cdb[1] & 1) == 0) {
        std::vector<uint8_t> d(36, 0);
        d[2] = 6;
        d[4] = 31;
        auto put = [&](size_t at, std::string_view text, size_t width) {
            std::vector<uint8_t> p = Padded(text, width);
            std::copy(p.begin(), p.end(), d.begin() + static_cast<ptrdiff_t>(at));
        };
        put(8, "LUNFS", 8);
        put(16, "fake disk", 16);
        put(32, "1", 4);
        return ScsiReply::Good(std::move(d));
    }
    switch (cdb[2]) {
        case 0x80:
            return ScsiReply::Good(VpdPage(0x80, Padded("fake-serial", 11)));
        case 0x83:
            return ScsiReply::Good(VpdPage(
                0x83, {0x01, 0x03, 0x00, 0x08, 0x60, 0x01, 0x40, 0x50, 0x11, 0x22, 0x33, 0x44}));
        case 0xb0:
            return ScsiReply::Good(VpdPage(0xb0, std::vector<uint8_t>(60, 0)));
        default:
            return ScsiReply::Check(0x05, 0x24, 0x00);
    }
}

}  // namespace lunfs::test
