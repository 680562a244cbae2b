// lunfs_test_iscsi: a second iSCSI initiator for integration tests, to do to a lab target what
// another host would.
//
//   lunfs_test_iscsi lun-reset URL   logs in and sends LOGICAL UNIT RESET for the URL's LUN
//   lunfs_test_iscsi fence-probe METHOD URL CTL
//       measures what a fence does to a WRITE the target holds in its backend. The LUN must sit
//       on lunfs_test_holdfs, whose control file is CTL. Session A writes X (64 KiB at 1 MiB),
//       which the backend holds; session B then fences A with METHOD while a timer releases
//       the held write 3 s later; B writes Y over the same bytes; A, once answered, writes one
//       more block elsewhere. Prints key=value lines: how long the fence took, whether X was
//       still held when it was answered, each command's status, and what the LUN holds.
//       METHOD: none, preempt (PERSISTENT RESERVE OUT PREEMPT of A's key, reservation type
//       Write Exclusive - Registrants Only, held by B), preempt-all-registrants (the same with
//       type Write Exclusive - All Registrants), lun-reset, abort-task-set (from B),
//       preempt-lun-reset (PREEMPT, then LOGICAL UNIT RESET), reinstate (A logs in again with
//       its ISID).
//   lunfs_test_iscsi pr-show URL
//       prints the LUN's persistent reservation state: "key=0x..." per registered key, then
//       "reservation=0x... type=N" or "reservation=none".
//   lunfs_test_iscsi pr-register URL KEY [reserve]
//       registers KEY (hex) from a session of its own, as another host of a cluster would, and
//       with "reserve" also takes a Write Exclusive - Registrants Only reservation; then logs out
//       (the registration stays).
//   lunfs_test_iscsi pr-preempt URL KEY VICTIM [TYPE]
//       what another cluster node fencing this one does: registers KEY (hex) from a session of
//       its own, then PREEMPTs VICTIM (hex) with reservation type TYPE (default 5, Write
//       Exclusive - Registrants Only), which removes every registration of VICTIM and, when
//       VICTIM held the reservation, hands it to KEY; then logs out (both stay).
//   lunfs_test_iscsi pr-clear URL
//       registers a key of its own and sends CLEAR: no registration or reservation is left.
//   lunfs_test_iscsi write URL
//       writes one block of zeros at LBA 0 and prints the status ("GOOD", "RESERVATION_CONFLICT").
//
// Exit 0 when the target answered as asked (lun-reset, pr-*) or the probe ran (fence-probe), 1
// otherwise, 2 for bad usage.
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

iscsi_context* Login(const char* url_text, const std::string& initiator, uint32_t isid, int* lun) {
    iscsi_context* ctx = iscsi_create_context(initiator.c_str());
    if (!ctx) return nullptr;
    iscsi_url* url = iscsi_parse_full_url(ctx, url_text);
    if (!url) {
        std::fprintf(stderr, "lunfs_test_iscsi: bad URL: %s\n", iscsi_get_error(ctx));
        iscsi_destroy_context(ctx);
        return nullptr;
    }
    if (isid != 0) iscsi_set_isid_random(ctx, isid, 0);
    // LUNFS_PROBE_CHAP=user:secret logs in with CHAP (through the security stage).
    if (const char* chap = std::getenv("LUNFS_PROBE_CHAP")) {
        const std::string c = chap;
        const size_t colon = c.find(':');
        iscsi_set_initiator_username_pwd(ctx, c.substr(0, colon).c_str(),
                                         c.substr(colon + 1).c_str());
    }
    iscsi_set_targetname(ctx, url->target);
    iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE);
    iscsi_set_noautoreconnect(ctx, 1);
    *lun = url->lun;
    const int rc = iscsi_full_connect_sync(ctx, url->portal, url->lun);
    iscsi_destroy_url(url);
    if (rc != 0) {
        std::fprintf(stderr, "lunfs_test_iscsi: login failed: %s\n", iscsi_get_error(ctx));
        iscsi_destroy_context(ctx);
        return nullptr;
    }
    return ctx;
}

int LunReset(const char* url_text) {
    int lun = 0;
    iscsi_context* ctx = Login(url_text, "iqn.2026-11.io.lunfs.test:another-initiator", 0, &lun);
    if (!ctx) return 1;
    int rc = 1;
    if (iscsi_task_mgmt_lun_reset_sync(ctx, static_cast<uint32_t>(lun)) != 0) {
        std::fprintf(stderr, "lunfs_test_iscsi: LUN reset failed: %s\n", iscsi_get_error(ctx));
    } else {
        rc = 0;
        iscsi_logout_sync(ctx);
    }
    iscsi_destroy_context(ctx);
    return rc;
}

// --- fence-probe ---------------------------------------------------------------------------

constexpr uint64_t kAt = 1 << 20;
constexpr uint32_t kLength = 64 << 10;
constexpr uint64_t kOtherAt = 4 << 20;
constexpr uint64_t kKeyA = 0xA, kKeyB = 0xB;
constexpr auto kReleaseAfter = std::chrono::milliseconds(3000);

std::string StatusName(int status) {
    switch (status) {
        case SCSI_STATUS_GOOD:
            return "GOOD";
        case SCSI_STATUS_CHECK_CONDITION:
            return "CHECK_CONDITION";
        case SCSI_STATUS_BUSY:
            return "BUSY";
        case SCSI_STATUS_RESERVATION_CONFLICT:
            return "RESERVATION_CONFLICT";
        case SCSI_STATUS_TASK_ABORTED:
            return "TASK_ABORTED";
        case SCSI_STATUS_CANCELLED:
            return "CANCELLED";
        case SCSI_STATUS_TIMEOUT:
            return "TIMEOUT";
        default:
            return "ERROR(" + std::to_string(status) + ")";
    }
}

// A sync command's status, with the sense key of a CHECK CONDITION; frees the task.
std::string Outcome(scsi_task* task, iscsi_context* ctx) {
    if (!task) return std::string("NO_TASK(") + iscsi_get_error(ctx) + ")";
    std::string s = StatusName(task->status);
    if (task->status == SCSI_STATUS_CHECK_CONDITION) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "(key=0x%x asc=0x%04x)", task->sense.key, task->sense.ascq);
        s += buf;
    }
    scsi_free_scsi_task(task);
    return s;
}

std::string ReadCtl(const std::string& ctl) {
    std::ifstream in(ctl);
    std::string line;
    std::getline(in, line);
    return line;
}

bool WriteCtl(const std::string& ctl, const std::string& line) {
    std::ofstream out(ctl);
    out << line << "\n";
    out.flush();
    return static_cast<bool>(out);
}

double MsSince(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

struct AsyncWrite {
    bool done = false;
    int status = -1;
};

void OnAsyncWrite(iscsi_context*, int status, void* data, void* priv) {
    auto* w = static_cast<AsyncWrite*>(priv);
    w->done = true;
    w->status = status;
    if (data) scsi_free_scsi_task(static_cast<scsi_task*>(data));
}

// Services `ctx` until `until` says stop or `limit` passes; false when the connection failed.
template <typename Until>
bool Service(iscsi_context* ctx, Until until, std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (!until() && Clock::now() < end) {
        pollfd pfd{iscsi_get_fd(ctx), static_cast<short>(iscsi_which_events(ctx)), 0};
        if (poll(&pfd, 1, 10) < 0) return false;
        if (iscsi_service(ctx, pfd.revents) < 0) return false;
    }
    return true;
}

std::string PrOut(iscsi_context* ctx, int lun, int action, int type, uint64_t key,
                  uint64_t sa_key) {
    scsi_persistent_reserve_out_basic params{};
    params.reservation_key = key;
    params.service_action_reservation_key = sa_key;
    return Outcome(iscsi_persistent_reserve_out_sync(
                       ctx, lun, action, SCSI_PERSISTENT_RESERVE_SCOPE_LU, type, &params),
                   ctx);
}

int FenceProbe(const std::string& method, const char* url, const std::string& ctl) {
    const std::string base = "iqn.2026-11.io.lunfs.test:probe-";
    int lun = 0;
    iscsi_context* a = Login(url, base + "a", 0x1a1a1a, &lun);
    iscsi_context* b = Login(url, base + "b", 0x2b2b2b, &lun);
    if (!a || !b) return 1;
    scsi_task* cap = iscsi_readcapacity16_sync(b, lun);
    auto* rc16 = cap && cap->status == SCSI_STATUS_GOOD
                     ? static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(cap))
                     : nullptr;
    const int bs = rc16 ? static_cast<int>(rc16->block_length) : 512;
    if (cap) scsi_free_scsi_task(cap);
    std::printf("method=%s block_size=%d\n", method.c_str(), bs);

    const bool reservation = method.rfind("preempt", 0) == 0;
    const int type = method == "preempt-all-registrants"
                         ? SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_ALL_REGISTRANTS
                         : SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY;
    if (reservation) {
        std::printf("register_a=%s\n",
                    PrOut(a, lun, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, kKeyA).c_str());
        std::printf("register_b=%s\n",
                    PrOut(b, lun, SCSI_PERSISTENT_RESERVE_REGISTER, 0, 0, kKeyB).c_str());
        std::printf("reserve_b=%s\n",
                    PrOut(b, lun, SCSI_PERSISTENT_RESERVE_RESERVE, type, kKeyB, 0).c_str());
    }

    std::vector<unsigned char> x(kLength, 'X'), y(kLength, 'Y'), z(bs, 'Z');
    if (!WriteCtl(ctl, "hold " + std::to_string(kAt) + " " + std::to_string(kLength) + " 1")) {
        std::fprintf(stderr, "lunfs_test_iscsi: cannot write %s\n", ctl.c_str());
        return 1;
    }
    AsyncWrite wx;
    if (!iscsi_write16_task(a, lun, kAt / bs, x.data(), kLength, bs, 0, 0, 0, 0, 0, OnAsyncWrite,
                            &wx)) {
        return 1;
    }
    Service(
        a, [&] { return ReadCtl(ctl).rfind("held=1", 0) == 0; }, std::chrono::milliseconds(5000));
    std::printf("x_held_before_fence=%s\n", ReadCtl(ctl).c_str());

    const auto start = Clock::now();
    std::thread releaser([&] {
        std::this_thread::sleep_for(kReleaseAfter);
        WriteCtl(ctl, "release");
    });
    iscsi_context* a2 = nullptr;
    std::string fence = "none";
    if (reservation) {
        fence = PrOut(b, lun, SCSI_PERSISTENT_RESERVE_PREEMPT, type, kKeyB, kKeyA);
    }
    if (method == "lun-reset" || method == "preempt-lun-reset") {
        fence += iscsi_task_mgmt_lun_reset_sync(b, lun) == 0 ? " lun-reset=COMPLETE"
                                                             : " lun-reset=FAILED";
    } else if (method == "abort-task-set") {
        fence = iscsi_task_mgmt_abort_task_set_sync(b, lun) == 0 ? "COMPLETE" : "FAILED";
    } else if (method == "reinstate") {
        a2 = Login(url, base + "a", 0x1a1a1a, &lun);
        fence = a2 ? "LOGGED_IN" : "LOGIN_FAILED";
    }
    std::printf("fence=%s fence_ms=%.0f x_at_fence_answer=%s\n", fence.c_str(), MsSince(start),
                ReadCtl(ctl).c_str());

    // B may have a unit attention pending after a reset: TEST UNIT READY takes it.
    scsi_task* tur = iscsi_testunitready_sync(b, lun);
    std::printf("tur_b=%s\n", Outcome(tur, b).c_str());
    std::printf(
        "write_y_b=%s ms=%.0f\n",
        Outcome(iscsi_write16_sync(b, lun, kAt / bs, y.data(), kLength, bs, 0, 0, 0, 0, 0), b)
            .c_str(),
        MsSince(start));
    releaser.join();
    const bool a_alive = Service(
        a, [&] { return wx.done; }, std::chrono::milliseconds(5000));
    std::printf("write_x_a=%s answered=%d connection=%s ms=%.0f ctl=%s\n",
                wx.done ? StatusName(wx.status).c_str() : "UNANSWERED", wx.done ? 1 : 0,
                a_alive ? "up" : "closed", MsSince(start), ReadCtl(ctl).c_str());
    // Twice: the first answer may be a unit attention the fence left for A.
    for (int i = 0; wx.done && a_alive && i < 2; ++i) {
        std::printf(
            "write_z_a=%s\n",
            Outcome(iscsi_write16_sync(a, lun, kOtherAt / bs, z.data(), bs, bs, 0, 0, 0, 0, 0), a)
                .c_str());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    scsi_task* rd = iscsi_read16_sync(b, lun, kAt / bs, kLength, bs, 0, 0, 0, 0, 0);
    std::string holds = "unreadable";
    if (rd && rd->status == SCSI_STATUS_GOOD && rd->datain.size >= static_cast<int>(kLength)) {
        const unsigned char* d = rd->datain.data;
        holds = std::memcmp(d, y.data(), kLength) == 0   ? "Y"
                : std::memcmp(d, x.data(), kLength) == 0 ? "X(stale)"
                                                         : "mixed";
    }
    if (rd) scsi_free_scsi_task(rd);
    std::printf("lun_holds=%s\n", holds.c_str());
    if (reservation) {  // leave the LUN as it was found
        PrOut(b, lun, SCSI_PERSISTENT_RESERVE_CLEAR, 0, kKeyB, 0);
    }
    for (iscsi_context* c : {a2, b}) {
        if (!c) continue;
        iscsi_logout_sync(c);
        iscsi_destroy_context(c);
    }
    iscsi_destroy_context(a);
    return 0;
}

// --- persistent reservations ----------------------------------------------------------------

constexpr const char* kOtherInitiator = "iqn.2026-11.io.lunfs.test:another-initiator";

// Registers `key` for the session (REGISTER AND IGNORE EXISTING KEY), past a unit attention or
// two; the last answer.
std::string RegisterKey(iscsi_context* ctx, int lun, uint64_t key) {
    std::string out;
    for (int attempt = 0; attempt < 3 && out != "GOOD"; ++attempt) {
        out = PrOut(ctx, lun, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY, 0, 0, key);
    }
    return out;
}

int PrShow(const char* url) {
    int lun = 0;
    iscsi_context* ctx = Login(url, kOtherInitiator, 0, &lun);
    if (!ctx) return 1;
    int rc = 1;
    for (int attempt = 0; attempt < 3 && rc != 0; ++attempt) {  // the first may be a UA
        scsi_task* keys =
            iscsi_persistent_reserve_in_sync(ctx, lun, SCSI_PERSISTENT_RESERVE_READ_KEYS, 8192);
        if (!keys || keys->status != SCSI_STATUS_GOOD) {
            if (keys) scsi_free_scsi_task(keys);
            continue;
        }
        auto* k = static_cast<scsi_persistent_reserve_in_read_keys*>(scsi_datain_unmarshall(keys));
        for (int i = 0; k && i < k->num_keys; ++i) {
            std::printf("key=0x%016llx\n", static_cast<unsigned long long>(k->keys[i]));
        }
        scsi_free_scsi_task(keys);
        scsi_task* res = iscsi_persistent_reserve_in_sync(
            ctx, lun, SCSI_PERSISTENT_RESERVE_READ_RESERVATION, 8192);
        if (!res || res->status != SCSI_STATUS_GOOD) {
            if (res) scsi_free_scsi_task(res);
            continue;
        }
        auto* r =
            static_cast<scsi_persistent_reserve_in_read_reservation*>(scsi_datain_unmarshall(res));
        if (r && r->reserved) {
            std::printf("reservation=0x%016llx type=%d\n",
                        static_cast<unsigned long long>(r->reservation_key), r->pr_type);
        } else {
            std::printf("reservation=none\n");
        }
        scsi_free_scsi_task(res);
        rc = 0;
    }
    iscsi_logout_sync(ctx);
    iscsi_destroy_context(ctx);
    return rc;
}

int PrRegister(const char* url, uint64_t key, bool reserve) {
    int lun = 0;
    iscsi_context* ctx = Login(url, kOtherInitiator, 0, &lun);
    if (!ctx) return 1;
    std::string out = RegisterKey(ctx, lun, key);
    if (out == "GOOD" && reserve) {
        out = PrOut(ctx, lun, SCSI_PERSISTENT_RESERVE_RESERVE,
                    SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY, key, 0);
    }
    std::printf("%s\n", out.c_str());
    iscsi_logout_sync(ctx);
    iscsi_destroy_context(ctx);
    return out == "GOOD" ? 0 : 1;
}

int PrPreempt(const char* url, uint64_t key, uint64_t victim, int type) {
    int lun = 0;
    iscsi_context* ctx = Login(url, kOtherInitiator, 0, &lun);
    if (!ctx) return 1;
    std::string out = RegisterKey(ctx, lun, key);
    if (out == "GOOD") {
        for (int attempt = 0; attempt < 3; ++attempt) {
            out = PrOut(ctx, lun, SCSI_PERSISTENT_RESERVE_PREEMPT, type, key, victim);
            if (out.rfind("CHECK_CONDITION", 0) != 0) break;  // a unit attention: again
        }
    }
    std::printf("%s\n", out.c_str());
    iscsi_logout_sync(ctx);
    iscsi_destroy_context(ctx);
    return out == "GOOD" ? 0 : 1;
}

int PrClear(const char* url) {
    constexpr uint64_t kKey = 0xc1ea4;
    int lun = 0;
    iscsi_context* ctx = Login(url, kOtherInitiator, 0, &lun);
    if (!ctx) return 1;
    std::string out = RegisterKey(ctx, lun, kKey);
    if (out == "GOOD") out = PrOut(ctx, lun, SCSI_PERSISTENT_RESERVE_CLEAR, 0, kKey, 0);
    std::printf("%s\n", out.c_str());
    iscsi_logout_sync(ctx);
    iscsi_destroy_context(ctx);
    return out == "GOOD" ? 0 : 1;
}

int WriteBlock(const char* url) {
    int lun = 0;
    iscsi_context* ctx = Login(url, kOtherInitiator, 0, &lun);
    if (!ctx) return 1;
    std::vector<unsigned char> block(4096);
    std::string out;
    for (int attempt = 0; attempt < 3; ++attempt) {
        scsi_task* t = iscsi_write16_sync(ctx, lun, 0, block.data(), 512, 512, 0, 0, 0, 0, 0);
        out = Outcome(t, ctx);
        if (out.rfind("CHECK_CONDITION", 0) != 0) break;  // a unit attention: again
    }
    std::printf("%s\n", out.c_str());
    iscsi_logout_sync(ctx);
    iscsi_destroy_context(ctx);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "pr-show") == 0) return PrShow(argv[2]);
    if ((argc == 4 || argc == 5) && std::strcmp(argv[1], "pr-register") == 0) {
        return PrRegister(argv[2], std::strtoull(argv[3], nullptr, 16),
                          argc == 5 && std::strcmp(argv[4], "reserve") == 0);
    }
    if (argc == 3 && std::strcmp(argv[1], "pr-clear") == 0) return PrClear(argv[2]);
    if ((argc == 5 || argc == 6) && std::strcmp(argv[1], "pr-preempt") == 0) {
        return PrPreempt(argv[2], std::strtoull(argv[3], nullptr, 16),
                         std::strtoull(argv[4], nullptr, 16),
                         argc == 6 ? std::atoi(argv[5])
                                   : SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY);
    }
    if (argc == 3 && std::strcmp(argv[1], "write") == 0) return WriteBlock(argv[2]);
    if (argc == 3 && std::strcmp(argv[1], "lun-reset") == 0) return LunReset(argv[2]);
    if (argc == 5 && std::strcmp(argv[1], "fence-probe") == 0) {
        return FenceProbe(argv[2], argv[3], argv[4]);
    }
    std::fprintf(stderr,
                 "usage: lunfs_test_iscsi lun-reset URL\n"
                 "       lunfs_test_iscsi fence-probe METHOD URL CTL\n"
                 "       lunfs_test_iscsi pr-show URL | pr-register URL KEY [reserve] | "
                 "pr-clear URL | pr-preempt URL KEY VICTIM [TYPE] | write URL\n");
    return 2;
}
