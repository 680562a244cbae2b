// End-to-end tests of one LUN over one path: a real tgtd, a real FUSE mount, and an independent
// initiator (qemu's libiscsi driver, or the target's backing file) to check what reached the LUN.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include "tests/integration/harness.h"

namespace lunfs::test {
namespace {

constexpr uint64_t kLunSize = 256ull << 20;

// True while `pid` runs (a zombie has finished its work and does not count).
bool Alive(int pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string skip, state;
    if (!(stat >> skip >> skip >> state)) return false;
    return state != "Z";
}

using MountTest = IntegrationTest;

TEST_F(MountTest, DirectWritesReachTheLunByteForByteAsAnotherInitiatorSeesIt) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), {lab.Url()});
    ASSERT_TRUE(mount.ok()) << mount.result().output;

    const std::vector<char> data = RandomBytes(8 << 20, 1);
    ASSERT_TRUE(WriteDirect(mount.File(), 3 << 20, data));

    // What the target holds, read by qemu's own iSCSI initiator, must equal a local image built
    // with the same write.
    const std::string expected = dir_.path() + "/expected.raw";
    WriteFile(expected, data, 3 << 20, kLunSize);
    CommandResult cmp = Shell("qemu-img compare -f raw -F raw " + expected + " " + lab.Url());
    EXPECT_EQ(cmp.exit_code, 0) << cmp.output;
    // And the backing file itself.
    EXPECT_EQ(ReadFileRange(lab.Backing(), 3 << 20, data.size()), data);
}

TEST_F(MountTest, DirectReadsReturnWhatAnotherInitiatorWrote) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    const std::string src = dir_.path() + "/src.bin";
    const std::vector<char> data = RandomBytes(5 << 20, 2);
    WriteFile(src, data);
    CommandResult w = Shell("qemu-io -f raw -c 'write -s " + src + " 7M 5M' " + lab.Url());
    ASSERT_EQ(w.exit_code, 0) << w.output;

    Mount mount(Mp(), {lab.Url()});
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    std::vector<char> got;
    ASSERT_TRUE(ReadDirect(mount.File(), 7 << 20, data.size(), got));
    EXPECT_EQ(got, data);
    // An unaligned read inside it.
    std::vector<char> part = ReadFileRange(mount.File(), (7 << 20) + 1001, 70001);
    EXPECT_EQ(part, std::vector<char>(data.begin() + 1001, data.begin() + 1001 + 70001));
}

TEST_F(MountTest, FioVerifiesAtQueueDepth16With4JobsAndUnalignedSizesOn4KBlocks) {
    LabOptions lo;
    lo.block_size = 4096;  // so that 512-byte granular I/O needs read-modify-write
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), {lab.Url()});
    ASSERT_TRUE(mount.ok()) << mount.result().output;

    CommandResult fio =
        Shell("fio --name=verify --filename=" + mount.File() +
              " --direct=1 --ioengine=libaio --iodepth=16 --numjobs=4 --rw=randwrite"
              " --bsrange=512-128k --size=24M --offset_increment=32M --verify=crc32c"
              " --verify_fatal=1 --do_verify=1 --group_reporting --output-format=terse"
              " --randseed=7 --verify_state_save=0");
    EXPECT_EQ(fio.exit_code, 0) << fio.output;
    // terse v3: field 5 is the error count.
    EXPECT_NE(fio.output.find(";verify;0;"), std::string::npos) << fio.output;
    EXPECT_NE(mount.Stats().find("\"failures\": 0"), std::string::npos) << mount.Stats();
}

TEST_F(MountTest, FsyncSendsSynchronizeCacheToTheTarget) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), {lab.Url()});
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    auto syncs = [&] {
        const std::string s = mount.Stats();
        const size_t at = s.find("\"syncs\": ");
        return at == std::string::npos ? -1 : std::atoi(s.c_str() + at + 9);
    };
    const int before = syncs();
    ASSERT_GE(before, 0);
    const int fd = open(mount.File().c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    const std::vector<char> data = RandomBytes(64 << 10, 3);
    ASSERT_EQ(pwrite(fd, data.data(), data.size(), 4096), static_cast<ssize_t>(data.size()));
    ASSERT_EQ(fsync(fd), 0);
    EXPECT_EQ(syncs(), before + 1);  // answered GOOD by the target
    ASSERT_EQ(fdatasync(fd), 0);
    EXPECT_EQ(syncs(), before + 2);
    ASSERT_EQ(close(fd), 0);  // flush on close of a writable handle
    EXPECT_EQ(syncs(), before + 3);
    EXPECT_EQ(ReadFileRange(lab.Backing(), 4096, data.size()), data);
}

TEST_F(MountTest, WritesPastTheEndFailWithEnospcAndStraddlingWritesAreShort) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), {lab.Url()});
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    const int fd = open(mount.File().c_str(), O_RDWR | O_DIRECT);
    ASSERT_GE(fd, 0);
    void* raw = nullptr;
    ASSERT_EQ(posix_memalign(&raw, 4096, 8192), 0);
    std::unique_ptr<char, decltype(&std::free)> buf(static_cast<char*>(raw), &std::free);
    std::memset(buf.get(), 0x5a, 8192);

    errno = 0;
    EXPECT_EQ(pwrite(fd, buf.get(), 4096, kLunSize), -1);
    EXPECT_EQ(errno, ENOSPC);
    EXPECT_EQ(pwrite(fd, buf.get(), 8192, kLunSize - 4096), 4096);  // written up to the end
    EXPECT_EQ(pread(fd, buf.get(), 4096, kLunSize), 0);             // EOF
    EXPECT_EQ(pread(fd, buf.get(), 8192, kLunSize - 4096), 4096);   // short at the end only
    close(fd);
    std::vector<char> tail = ReadFileRange(lab.Backing(), kLunSize - 4096, 4096);
    EXPECT_EQ(tail, std::vector<char>(4096, 0x5a));
}

TEST_F(MountTest, CpAndDdIntoTheLunFileWriteTheImageAndKeepTheSize) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), {lab.Url()});
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    const std::string image = dir_.path() + "/image.raw";
    const std::vector<char> data = RandomBytes(9 << 20, 4);
    WriteFile(image, data);
    CommandResult cp = Shell("cp " + image + " " + mount.File());
    ASSERT_EQ(cp.exit_code, 0) << cp.output;
    struct stat st;
    ASSERT_EQ(stat(mount.File().c_str(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), kLunSize);  // O_TRUNC changed nothing
    EXPECT_EQ(ReadFileRange(lab.Backing(), 0, data.size()), data);

    CommandResult dd = Shell("dd if=" + image + " of=" + mount.File() +
                             " bs=1M seek=20 conv=notrunc,fsync status=none");
    ASSERT_EQ(dd.exit_code, 0) << dd.output;
    EXPECT_EQ(ReadFileRange(lab.Backing(), 20 << 20, data.size()), data);

    EXPECT_EQ(Shell("truncate -s 0 " + mount.File()).exit_code, 0);
    ASSERT_EQ(stat(mount.File().c_str(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), kLunSize);
    EXPECT_EQ(ReadFileRange(lab.Backing(), 0, data.size()), data);  // data kept
    CommandResult grow = Shell("truncate -s 1G " + mount.File());
    EXPECT_NE(grow.exit_code, 0);
    EXPECT_NE(grow.output.find("too large"), std::string::npos) << grow.output;
}

TEST_F(MountTest, StatfsAndDirectoryShowOneFilePerLun) {
    LabOptions lo;
    lo.luns = 2;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), {lab.Url(0, 1), lab.Url(0, 2)}, "--name data");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    CommandResult ls = Shell("ls " + Mp());
    EXPECT_EQ(ls.output, "data\nlun2\n");
    struct statvfs sv;
    ASSERT_EQ(statvfs(Mp().c_str(), &sv), 0);
    EXPECT_EQ(uint64_t{sv.f_blocks} * sv.f_frsize, 2 * kLunSize);
    struct stat st;
    ASSERT_EQ(stat(mount.File("data").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(st.st_uid, getuid());
}

TEST_F(MountTest, UnmountWaitsForTheDaemonAndTheLunMountsAgain) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    {
        Mount mount(Mp(), {lab.Url()});
        ASSERT_TRUE(mount.ok()) << mount.result().output;
        const int pid = mount.Pid();
        ASSERT_GT(pid, 0);
        CommandResult u = mount.Unmount();
        EXPECT_EQ(u.exit_code, 0) << u.output;
        EXPECT_FALSE(Alive(pid)) << "the daemon outlived lunfs unmount";
        EXPECT_EQ(Shell("grep -c ' " + Mp() + " ' /proc/mounts").output, "0\n");
    }
    Mount again(Mp(), {lab.Url()});
    EXPECT_TRUE(again.ok()) << again.result().output;
}

// ---- Bad input: one line, a non-zero exit, no mount left behind ----------------------------

class MountErrorTest : public MountTest {
  protected:
    // Runs a mount expected to fail; checks the exit code, a one-line message containing
    // `expect`, and that nothing got mounted.
    void ExpectFailure(const std::vector<std::string>& urls, int code, const std::string& expect,
                       const std::string& args = "") {
        Mount mount(Mp(), urls, args);
        EXPECT_EQ(mount.result().exit_code, code) << mount.result().output;
        const std::string& out = mount.result().output;
        EXPECT_NE(out.find(expect), std::string::npos) << out;
        EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
        EXPECT_EQ(Shell("grep -c ' " + Mp() + " ' /proc/mounts").output, "0\n");
    }
};

TEST_F(MountErrorTest, BadUrlIsRefusedWithExitCode2) {
    ExpectFailure({"iscsi://127.0.0.1:99999/iqn.2026-11.x:y/1"}, 2, "port");
    ExpectFailure({"http://127.0.0.1/iqn.2026-11.x:y/1"}, 2, "iscsi://");
    ExpectFailure({"iscsi://127.0.0.1/iqn.2026-11.x:y"}, 2, "LUN");
    ExpectFailure({"iscsi://me%secret@127.0.0.1/iqn.2026-11.x:y/1"}, 2, "secret");
}

TEST_F(MountErrorTest, UnreachablePortalIsReported) {
    // A port in the lab range with nothing listening: connection refused at once.
    ExpectFailure({"iscsi://127.0.0.1:1/iqn.2026-11.io.lunfs:none/1"}, 1, "cannot connect");
}

TEST_F(MountErrorTest, MissingLunAndUnknownTargetAreReported) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    ExpectFailure({lab.Url(0, 7)}, 1, "has no LUN 7");
    ExpectFailure({"iscsi://" + lab.Portal() + "/iqn.2026-11.io.lunfs:nobody/1"}, 1, "no target");
}

TEST_F(MountErrorTest, RefusedLoginIsReportedAndTheRightSecretMounts) {
    const std::string secret = dir_.path() + "/secret";
    { std::ofstream(secret) << "labsecret1234\n"; }
    chmod(secret.c_str(), 0600);
    LabOptions lo;
    lo.chap_user = "labuser";
    lo.chap_secret_file = secret;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    ExpectFailure({lab.Url()}, 1, "refused");  // no credentials

    const std::string wrong = dir_.path() + "/wrong";
    { std::ofstream(wrong) << "not-the-secret\n"; }
    chmod(wrong.c_str(), 0600);
    const std::string user_url = "iscsi://labuser@" + lab.Portal() + "/" + lab.Iqn() + "/1";
    ExpectFailure({user_url}, 1, "refused", "--chap-secret-file " + wrong);

    chmod(secret.c_str(), 0644);
    ExpectFailure({user_url}, 2, "chmod 600", "--chap-secret-file " + secret);
    chmod(secret.c_str(), 0600);
    Mount mount(Mp(), {user_url}, "--chap-secret-file " + secret);
    EXPECT_TRUE(mount.ok()) << mount.result().output;
    // The secret shows up nowhere the daemon writes.
    EXPECT_EQ(Shell("grep -c labsecret1234 " + Mp() + ".log").output, "0\n");
    EXPECT_EQ(mount.Stats().find("labsecret1234"), std::string::npos);
}

TEST_F(MountErrorTest, MountpointProblemsAreReported) {
    const std::string file = dir_.path() + "/afile";
    std::ofstream(file) << "x";
    CommandResult r =
        Shell(LunfsBinary() + " mount " + file + " iscsi://127.0.0.1/iqn.2026-11.x:y/1");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.output.find("not a directory"), std::string::npos) << r.output;
    r = Shell(LunfsBinary() + " mount " + dir_.path() +
              "/nowhere iscsi://127.0.0.1/iqn.2026-11.x:y/1");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.output.find("No such file"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace lunfs::test
