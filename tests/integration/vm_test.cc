// lunfs hosting VM images and file systems, end to end: qemu's tools and a real (TCG) VM on a
// LUN file mounted over two paths of a real tgtd, with what reached the LUN read back by an
// independent reader (the target's backing file, or qemu's own iSCSI initiator on another
// portal). Run with lunfs's default cache and, where writes may be held in memory, with
// --cache writeback: whatever the guest side flushed or closed must be on the LUN.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/ops_helpers.h"
#include "tests/integration/vm_helpers.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;

class VmTest : public IntegrationTest {
  protected:
    void SetUp() override {
        IntegrationTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        const std::string why = MissingVmPrerequisite();
        if (why.empty()) return;
        if (std::getenv("LUNFS_REQUIRE_INTEGRATION")) FAIL() << why;
        GTEST_SKIP() << why;
    }

    // A lab LUN on two portals (the mount uses both: multipath is the point) and its mount.
    void StartLab(const std::string& size = "128M", int block_size = 512) {
        LabOptions lo;
        lo.portals = 2;
        lo.size = size;
        lo.block_size = block_size;
        lab_ = std::make_unique<Lab>(LabDir(), lo);
        ASSERT_TRUE(lab_->ok()) << lab_->error();
    }
    void MountLun(const std::string& args = "") {
        mount_ = std::make_unique<Mount>(Mp(), lab_->Urls(), args);
        ASSERT_TRUE(mount_->ok()) << mount_->result().output;
    }
    std::string Lun() const { return mount_->File(); }
    // The LUN through another initiator: qemu's libiscsi driver on the second portal.
    std::string Direct() const { return lab_->Url(1); }
    std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }
    nlohmann::json Stats() const { return Json(mount_->Stats()); }

    // Boots the VM (virtio-blk, cache=none, werror=stop, rerror=stop) with the boot sector in
    // its looping mode and waits until its loop has done 256 rounds.
    void StartLoopingVm() {
        const std::string boot = Path("boot.bin");
        ASSERT_EQ(BuildBootSector(boot), "");
        ASSERT_TRUE(WriteDirect(Lun(), 0, ReadFileRange(boot, 0, 512)));
        ASSERT_TRUE(WriteDirect(Lun(), kHostLba * 512, HostSector("loop", 'L')));
        vm_ = std::make_unique<QemuVm>(
            dir_.path(), "file=" + Lun() + ",format=raw,cache=none,werror=stop,rerror=stop",
            DiskBus::kVirtio);
        ASSERT_TRUE(vm_->started());
        qmp_ = std::make_unique<Qmp>(vm_->qmp_socket());
        ASSERT_TRUE(qmp_->ok()) << qmp_->error() << vm_->Log();
        ASSERT_TRUE(WaitFor([&] { return LastProgress(vm_->Serial()) >= 0x100; }, 60s))
            << vm_->Serial() << vm_->Log();
    }
    bool SawEvent(const std::string& name) const {
        for (const auto& e : qmp_->events()) {
            if (e["event"] == name) return true;
        }
        return false;
    }
    // Quits the looping VM and checks the 64 sectors of its loop in the backing file: sector k
    // holds the last round i with i mod 64 == k ("LOOP", then i in each of its 127 other words),
    // and the newest of them is at least the last round the guest reported.
    void QuitLoopingVmAndCheckItsSectors() {
        const int64_t reported = LastProgress(vm_->Serial());
        qmp_->Execute("quit");
        EXPECT_EQ(vm_->WaitExit(20s), 0) << vm_->Log();
        const std::vector<char> loop = ReadFileRange(lab_->Backing(), kLoopLba * 512, 64 * 512);
        ASSERT_EQ(loop.size(), 64u * 512);
        int64_t newest = -1;
        for (int k = 0; k < 64; ++k) {
            const char* sector = loop.data() + k * 512;
            ASSERT_EQ(std::string(sector, 4), "LOOP") << "sector " << k;
            uint32_t i = 0;
            std::memcpy(&i, sector + 4, 4);
            EXPECT_EQ(i % 64, uint32_t(k));
            for (int w = 2; w < 128; ++w) {
                uint32_t v = 0;
                std::memcpy(&v, sector + 4 * w, 4);
                ASSERT_EQ(v, i) << "sector " << k << ", word " << w;
            }
            newest = std::max<int64_t>(newest, i);
        }
        EXPECT_GE(newest + 1, reported);
    }
    bool SomePathActive() const {
        const nlohmann::json st = Stats();
        if (st.is_discarded() || !st.contains("luns")) return false;
        for (const auto& p : st["luns"][0]["paths"]) {
            if (p["use"] == "active") return true;
        }
        return false;
    }

    // Declared in the order they are built, so they are torn down the other way round.
    std::unique_ptr<Lab> lab_;
    std::unique_ptr<Mount> mount_;
    std::unique_ptr<QemuVm> vm_;
    std::unique_ptr<Qmp> qmp_;
};

// The checks whose writes lunfs's cache may hold: run with the default cache (read) and with
// write-back.
class VmCacheTest : public VmTest, public ::testing::WithParamInterface<std::string> {
  protected:
    std::string CacheArgs() const { return GetParam() == "read" ? "" : "--cache " + GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Cache, VmCacheTest, ::testing::Values("read", "writeback"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                             return p.param == "read" ? "DefaultCache" : "WritebackCache";
                         });

// One qemu-io write or read: `length` bytes of `pattern` at `offset`.
struct Piece {
    uint64_t offset;
    uint64_t length;
    int pattern;
};

// Runs `pieces` as one qemu-io invocation of aio requests, all in flight at once, then a flush.
CommandResult QemuIo(const std::string& image, const std::string& options, bool write,
                     const std::vector<Piece>& pieces) {
    std::ostringstream cmd;
    cmd << "qemu-io " << options;
    for (const Piece& p : pieces) {
        cmd << " -c '" << (write ? "aio_write" : "aio_read") << " -P " << p.pattern << " "
            << p.offset << " " << p.length << "'";
    }
    cmd << " -c aio_flush '" << image << "'";
    return Shell(cmd.str());
}

// qemu-io prints one "wrote"/"read" line per completed request and "failed" for any error or
// pattern mismatch (its exit code does not show failed aio requests).
::testing::AssertionResult QemuIoSucceeded(const CommandResult& r, bool write, size_t requests) {
    const std::string done = write ? "wrote " : "read ";
    size_t count = 0;
    for (size_t at = r.output.find(done); at != std::string::npos;
         at = r.output.find(done, at + 1)) {
        ++count;
    }
    if (r.exit_code != 0 || r.output.find("failed") != std::string::npos || count != requests) {
        return ::testing::AssertionFailure() << "exit " << r.exit_code << ", " << count << " of "
                                             << requests << " requests done:\n"
                                             << r.output;
    }
    return ::testing::AssertionSuccess();
}

// qemu-io writes at queue depths 1, 16 and 64, through the host page cache and with O_DIRECT
// (-t none, Linux native AIO), each read back at the same depth by a new qemu-io; then the whole
// LUN, read by another initiator, equals an image built here.
TEST_P(VmCacheTest, QemuIoPatternsHoldAtEveryQueueDepthWithAndWithoutTheHostCache) {
    StartLab();
    MountLun(CacheArgs());
    const std::string expected = Path("expected.raw");
    WriteFile(expected, {}, 0, 128 << 20);
    uint64_t offset = 1 << 20;
    int seq = 0;
    for (const std::string options : {"-f raw -t none -i native", "-f raw -t writeback"}) {
        for (int depth : {1, 16, 64}) {
            std::vector<Piece> pieces;
            for (int i = 0; i < depth; ++i) {
                // 512 B to 128 KiB, starts 512-byte aligned but seldom 4 KiB aligned.
                const uint64_t length = 512 * (1 + (i * 37 + depth) % 256);
                pieces.push_back({offset, length, 1 + seq++ % 254});
                offset += length + 512 * (i % 3);
            }
            SCOPED_TRACE(options + ", depth " + std::to_string(depth));
            EXPECT_TRUE(QemuIoSucceeded(QemuIo(Lun(), options, true, pieces), true, depth));
            EXPECT_TRUE(QemuIoSucceeded(QemuIo(Lun(), options, false, pieces), false, depth));
            for (const Piece& p : pieces) {
                WriteFile(expected, std::vector<char>(p.length, static_cast<char>(p.pattern)),
                          p.offset);
            }
        }
    }
    ASSERT_LT(offset, 128u << 20);
    CommandResult cmp = Shell("qemu-img compare -f raw -F raw " + expected + " " + Direct());
    EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
    const nlohmann::json st = Stats();
    for (const auto& p : st["luns"][0]["paths"]) {
        EXPECT_GT(p["bytes_written"].get<uint64_t>(), 0u) << p.dump();
    }
}

// qemu-img convert of a qcow2 (data, zeroed clusters and holes) into a LUN full of old data,
// with out-of-order writes by 16 coroutines: the LUN must equal the image, holes included.
TEST_F(VmTest, QemuImgConvertWritesAnImageOverOldDataHolesIncluded) {
    StartLab("64M");
    ASSERT_EQ(Shell("tr '\\0' '\\245' </dev/zero | head -c 64M > " + lab_->Backing()).exit_code, 0);
    MountLun();
    const std::string source = Path("source.qcow2");
    ASSERT_EQ(Shell("qemu-img create -q -f qcow2 " + source + " 64M").exit_code, 0);
    CommandResult fill = Shell(
        "qemu-io -f qcow2 -c 'write -P 17 0 1M' -c 'write -P 34 5M 3M' "
        "-c 'write -P 51 20M 100k' -c 'write -z 30M 1M' "
        "-c 'write -P 68 63M 1M' " +
        source);
    ASSERT_EQ(fill.exit_code, 0) << fill.output;

    CommandResult convert =
        Shell("qemu-img convert -n -f qcow2 -O raw -t none -W -m 16 " + source + " " + Lun());
    ASSERT_EQ(convert.exit_code, 0) << convert.output;
    CommandResult through_mount = Shell("qemu-img compare -f qcow2 -F raw " + source + " " + Lun());
    EXPECT_EQ(through_mount.exit_code, 0) << through_mount.output;
    CommandResult direct = Shell("qemu-img compare -f qcow2 -F raw " + source + " " + Direct());
    EXPECT_EQ(direct.exit_code, 0) << direct.output;
}

// A qcow2 made in the LUN file and written by qemu-io (O_DIRECT at depth 32, then through the
// page cache): qemu-img check passes through the mount, and through another initiator while
// still mounted (so what qemu flushed at close is on the LUN), where every pattern reads back.
TEST_P(VmCacheTest, Qcow2InsideTheLunFilePassesCheckAndIsOnTheLunOnceClosed) {
    StartLab();
    MountLun(CacheArgs());
    CommandResult create = Shell("qemu-img create -f qcow2 " + Lun() + " 96M");
    ASSERT_EQ(create.exit_code, 0) << create.output;

    std::vector<Piece> direct_pieces, cached_pieces;
    for (int i = 0; i < 32; ++i) {  // each in a cluster of its own, most not cluster-aligned
        direct_pieces.push_back({uint64_t(i) * (2 << 20) + uint64_t(i % 4) * 4096,
                                 uint64_t(4096) * (1 + i % 16), 1 + i});
    }
    for (int i = 0; i < 16; ++i) {  // close behind every other one, some in the same cluster
        cached_pieces.push_back({uint64_t(i) * (4 << 20) + (72 << 10) + uint64_t(i) * 512,
                                 uint64_t(512) * (1 + i * 13), 100 + i});
    }
    EXPECT_TRUE(QemuIoSucceeded(QemuIo(Lun(), "-f qcow2 -t none -i native", true, direct_pieces),
                                true, direct_pieces.size()));
    EXPECT_TRUE(QemuIoSucceeded(QemuIo(Lun(), "-f qcow2 -t writeback", true, cached_pieces), true,
                                cached_pieces.size()));

    for (const std::string& image : {Lun(), Direct()}) {
        SCOPED_TRACE(image);
        CommandResult check = Shell("qemu-img check -f qcow2 " + image);
        EXPECT_EQ(check.exit_code, 0) << check.output;
        EXPECT_NE(check.output.find("No errors were found"), std::string::npos) << check.output;
        EXPECT_TRUE(QemuIoSucceeded(QemuIo(image, "-r -f qcow2", false, direct_pieces), false,
                                    direct_pieces.size()));
        EXPECT_TRUE(QemuIoSucceeded(QemuIo(image, "-r -f qcow2", false, cached_pieces), false,
                                    cached_pieces.size()));
    }
    ASSERT_EQ(mount_->Unmount().exit_code, 0);
    CommandResult backing = Shell("qemu-img check -f qcow2 " + lab_->Backing());
    EXPECT_EQ(backing.exit_code, 0) << backing.output;
}

// ext4 made by mkfs.ext4 on a loop device over the LUN file, mounted, filled and unmounted:
// e2fsck -fn passes on the LUN file and on the target's backing file (lunfs still mounted), and
// every file read from the backing file by debugfs has the checksum it had when written.
TEST_P(VmCacheTest, Ext4OnALoopDeviceOverTheLunFilePassesFsckAndIsOnTheLun) {
    StartLab();
    MountLun(CacheArgs());
    LoopDevice loop(Lun());
    ASSERT_TRUE(loop.ok()) << loop.error();
    CommandResult mkfs =
        Shell("mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 " + loop.device());
    ASSERT_EQ(mkfs.exit_code, 0) << mkfs.output;
    {
        KernelMount fs(loop.device(), Path("fs"), "-t ext4");
        ASSERT_TRUE(fs.ok()) << fs.result().output;
        CommandResult fill = Shell(
            "cd " + Path("fs") +
            " && head -c 8M /dev/urandom > big && cp big big.copy && mkdir -p small/deeper"
            " && for i in $(seq 1 150); do head -c $((i * 97)) /dev/urandom > small/f$i; done"
            " && for i in $(seq 1 50); do head -c $((i * 4096)) /dev/urandom > small/deeper/g$i;"
            " done && rm small/f7 small/f77 && find . -type f ! -path './lost+found/*' | sort"
            " | xargs sha256sum > " +
            Path("manifest"));
        ASSERT_EQ(fill.exit_code, 0) << fill.output;
        CommandResult umount = fs.Unmount();
        ASSERT_EQ(umount.exit_code, 0) << umount.output;
    }
    CommandResult detach = loop.Detach();
    ASSERT_EQ(detach.exit_code, 0) << detach.output;
    EXPECT_EQ(Shell("wc -l < " + Path("manifest")).output, "200\n");

    for (const std::string& image : {Lun(), lab_->Backing()}) {
        CommandResult fsck = Shell("e2fsck -fn " + image);
        EXPECT_EQ(fsck.exit_code, 0) << image << ":\n" << fsck.output;
    }
    CommandResult dump = Shell("mkdir " + Path("dump") + " && debugfs -R 'rdump / " + Path("dump") +
                               "' " + lab_->Backing());
    ASSERT_EQ(dump.exit_code, 0) << dump.output;
    CommandResult sums =
        Shell("cd " + Path("dump") + " && sha256sum --quiet -c " + Path("manifest"));
    EXPECT_EQ(sums.exit_code, 0) << sums.output;
}

// A VM boots from the LUN file (cache=none) with a boot sector built here: it prints to COM1,
// reads through int 13h the sector written into the LUN file beforehand, and writes one that is
// in the backing file as soon as the guest says so, while qemu still has the file open.
TEST_P(VmCacheTest, VmBootsFromTheLunFileAndItsBiosDiskIoReachesTheLun) {
    StartLab("64M");
    MountLun(CacheArgs());
    const std::string boot = Path("boot.bin");
    ASSERT_EQ(BuildBootSector(boot), "");
    const std::string token = "host-sector-" + GetParam() + "-" + std::to_string(getpid());
    ASSERT_TRUE(WriteDirect(Lun(), 0, ReadFileRange(boot, 0, 512)));
    ASSERT_TRUE(WriteDirect(Lun(), kHostLba * 512, HostSector(token, 'H')));

    QemuVm vm(dir_.path(), "file=" + Lun() + ",format=raw,cache=none");
    ASSERT_TRUE(vm.started());
    ASSERT_TRUE(vm.WaitForSerial("DONE\n", 60s)) << vm.Serial() << vm.Log();
    EXPECT_EQ(vm.Serial(), "LUNFS-BOOT\nREAD " + token + "\nWROTE\nDONE\n");
    std::vector<char> wrote(512, 0);
    std::memcpy(wrote.data(), "GUEST ", 6);
    std::memcpy(wrote.data() + 6, token.data(), token.size());
    EXPECT_EQ(ReadFileRange(lab_->Backing(), kGuestLba * 512, 512), wrote);

    Qmp qmp(vm.qmp_socket());
    ASSERT_TRUE(qmp.ok()) << qmp.error();
    qmp.Execute("quit");
    EXPECT_EQ(vm.WaitExit(20s), 0) << vm.Log();
}

// Every path down under a VM looping on disk I/O with werror=stop,rerror=stop: once
// --no-path-timeout is over, the error reaches qemu and the VM pauses (io-error); with a path
// back, `cont` resumes it, its loop goes on without a disk error or a mismatch, and every sector
// it wrote is in the backing file.
TEST_F(VmTest, VmPausesOnIoErrorWithAllPathsDownAndResumesOnContWhenAPathIsBack) {
    StartLab("64M");
    MountLun("--no-path-timeout 2");
    StartLoopingVm();
    int64_t paused_at = -1;
    {
        PortFault fault({lab_->Port(0), lab_->Port(1)}, true);
        ASSERT_TRUE(fault.ok());
        ASSERT_TRUE(WaitFor([&] { return qmp_->Status() == "io-error"; }, 60s)) << qmp_->Status();
        paused_at = LastProgress(vm_->Serial());
        std::this_thread::sleep_for(1s);
        EXPECT_EQ(LastProgress(vm_->Serial()), paused_at);  // paused: no progress
        bool stopped_on_error = false;
        for (const auto& e : qmp_->events()) {
            stopped_on_error = stopped_on_error || (e["event"] == "BLOCK_IO_ERROR" &&
                                                    e["data"].value("action", "") == "stop");
        }
        EXPECT_TRUE(stopped_on_error) << nlohmann::json(qmp_->events()).dump();
    }
    ASSERT_TRUE(WaitFor([&] { return SomePathActive(); }, 60s)) << Stats().dump();
    EXPECT_TRUE(qmp_->Execute("cont").contains("return"));
    ASSERT_TRUE(WaitFor([&] { return LastProgress(vm_->Serial()) >= paused_at + 0x100; }, 60s))
        << "paused at " << paused_at << ":\n"
        << vm_->Serial();
    EXPECT_EQ(qmp_->Status(), "running");
    const std::string serial = vm_->Serial();
    EXPECT_EQ(serial.find("MISMATCH"), std::string::npos) << serial;
    EXPECT_EQ(serial.find("DISKERR"), std::string::npos) << serial;
    QuitLoopingVmAndCheckItsSectors();
}

// One of the two paths black-holed under the looping VM, on a 4 KiB-block LUN (the guest's
// 512-byte sectors are read-modify-writes in lunfs): the VM never pauses, its loop goes on
// during the fault, and the path is back in use after it.
TEST_F(VmTest, VmKeepsRunningWhileOnePathFails) {
    StartLab("64M", 4096);
    MountLun();
    StartLoopingVm();
    {
        PortFault fault({lab_->Port(0)}, true);
        ASSERT_TRUE(fault.ok());
        const int64_t before = LastProgress(vm_->Serial());
        // At least 5 s, and until lunfs has seen the path fail (its I/O, or its idle check).
        const auto start = std::chrono::steady_clock::now();
        auto path_failed = [&] {
            const nlohmann::json st = Stats();
            return !st.is_discarded() && st.contains("luns") &&
                   st["luns"][0]["paths"][0]["path_failures"].get<int>() >= 1;
        };
        while (std::chrono::steady_clock::now() - start < 5s || !path_failed()) {
            ASSERT_EQ(qmp_->Status(), "running");
            ASSERT_LT(std::chrono::steady_clock::now() - start, 60s) << Stats().dump();
            std::this_thread::sleep_for(250ms);
        }
        // A write of the loop that was on the failed path keeps its sectors fenced for up to
        // fence_timeout (3 s, docs/ghost-writes.md): the loop may wait that long, never pause.
        EXPECT_TRUE(WaitFor([&] { return LastProgress(vm_->Serial()) >= before + 0x100; }, 15s))
            << "before the fault: " << before << ", now " << LastProgress(vm_->Serial());
        EXPECT_EQ(qmp_->Status(), "running");
    }
    EXPECT_TRUE(WaitFor(
        [&] {
            const nlohmann::json st = Stats();
            return !st.is_discarded() && st.contains("luns") &&
                   st["luns"][0]["paths"][0]["use"] == "active" &&
                   st["luns"][0]["paths"][1]["use"] == "active";
        },
        30s))
        << Stats().dump();
    EXPECT_EQ(Stats()["luns"][0]["failed_requests"], 0) << Stats().dump();
    EXPECT_FALSE(SawEvent("BLOCK_IO_ERROR"));
    EXPECT_FALSE(SawEvent("STOP"));
    const std::string serial = vm_->Serial();
    EXPECT_EQ(serial.find("MISMATCH"), std::string::npos) << serial;
    EXPECT_EQ(serial.find("DISKERR"), std::string::npos) << serial;
    QuitLoopingVmAndCheckItsSectors();
}

}  // namespace
}  // namespace lunfs::test
