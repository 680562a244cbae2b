// Security end to end: CHAP one-way and mutual against a real tgtd (every combination of right and
// wrong credentials mounts or exits with one clear line), secrets only from strict files or the
// environment and never shown anywhere, the mount private to its owner, read-only mounts and
// write-protected LUNs, and bad command-line values refused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "tests/integration/harness.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kUserSecret = "initiator-secret-4a7c1e";
constexpr const char* kTargetSecret = "target-secret-9d2b6f";

class SecurityTest : public IntegrationTest {
  protected:
    // A file holding `content`, with `mode`.
    std::string SecretFile(const std::string& name, const std::string& content, mode_t mode) {
        const std::string path = dir_.path() + "/" + name;
        { std::ofstream(path) << content << "\n"; }
        chmod(path.c_str(), mode);
        return path;
    }
    // A lab demanding CHAP from labuser, and answering mutual CHAP as labtarget.
    void StartChapLab() {
        LabOptions lo;
        lo.chap_user = "labuser";
        lo.chap_secret_file = SecretFile("lab-user", kUserSecret, 0600);
        lo.chap_target_user = "labtarget";
        lo.chap_target_secret_file = SecretFile("lab-target", kTargetSecret, 0600);
        lab_ = std::make_unique<Lab>(LabDir(), lo);
        ASSERT_TRUE(lab_->ok()) << lab_->error();
    }
    std::string UrlAs(const std::string& user) const {
        return "iscsi://" + user + "@" + lab_->Portal() + "/" + lab_->Iqn() + "/1";
    }
    // A mount that must fail with `code` and one line holding `expect`, and no secret anywhere.
    void ExpectRefused(const std::string& url, const std::string& args, int code,
                       const std::string& expect) {
        Mount mount(Mp(), {url}, args);
        const std::string& out = mount.result().output;
        EXPECT_EQ(mount.result().exit_code, code) << args << "\n" << out;
        EXPECT_NE(out.find(expect), std::string::npos) << args << "\n" << out;
        EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
        ExpectNoSecretIn(out);
        ExpectNoSecretIn(ReadText(Mp() + ".log"));
    }
    static void ExpectNoSecretIn(const std::string& text) {
        EXPECT_EQ(text.find(kUserSecret), std::string::npos) << text;
        EXPECT_EQ(text.find(kTargetSecret), std::string::npos) << text;
    }

    std::unique_ptr<Lab> lab_;
};

TEST_F(SecurityTest, ChapMatrixMountsWithRightCredentialsAndRefusesEveryWrongOneClearly) {
    StartChapLab();
    const std::string user = "--chap-secret-file " + SecretFile("user", kUserSecret, 0600);
    const std::string wrong_user = "--chap-secret-file " + SecretFile("wrong", "not-it", 0600);
    const std::string target = " --chap-target-user labtarget --chap-target-secret-file " +
                               SecretFile("target", kTargetSecret, 0600);
    const std::string wrong_target = " --chap-target-user labtarget --chap-target-secret-file " +
                                     SecretFile("wrong-target", "not-the-target", 0400);

    ExpectRefused(lab_->Url(), "", 1, "refused");                     // no credentials
    ExpectRefused(UrlAs("someone"), user, 1, "refused");              // wrong user
    ExpectRefused(UrlAs("labuser"), wrong_user, 1, "refused");        // wrong secret
    ExpectRefused(UrlAs("labuser"), user + wrong_target, 1, "CHAP");  // wrong target secret
    ExpectRefused(UrlAs("labuser"),
                  user + " --chap-target-user impostor --chap-target-secret-file " +
                      SecretFile("t2", kTargetSecret, 0600),
                  1, "CHAP");                                // the target answers with another name
    for (const std::string& args : {user, user + target}) {  // one-way, then mutual
        Mount mount(Mp(), {UrlAs("labuser")}, args);
        ASSERT_TRUE(mount.ok()) << args << "\n" << mount.result().output;
        const std::vector<char> data = RandomBytes(1 << 20, 61);
        EXPECT_TRUE(WriteDirect(mount.File(), 0, data));
        EXPECT_EQ(ReadFileRange(lab_->Backing(), 0, data.size()), data);
        ExpectNoSecretIn(mount.Stats());
        ExpectNoSecretIn(Shell(LunfsBinary() + " status " + Mp()).output);
        ExpectNoSecretIn(
            Shell("tr '\\0' ' ' < /proc/" + std::to_string(mount.Pid()) + "/cmdline").output);
        ExpectNoSecretIn(ReadText(Mp() + ".log"));  // written at debug level
    }
}

TEST_F(SecurityTest, SecretsComeOnlyFromStrictFilesOrTheEnvironment) {
    StartChapLab();
    const std::string url = UrlAs("labuser");
    for (mode_t loose : {0640, 0604, 0660, 0610}) {
        ExpectRefused(url, "--chap-secret-file " + SecretFile("loose", kUserSecret, loose), 2,
                      "chmod 600");
    }
    const std::string strict = SecretFile("strict", kUserSecret, 0600);
    const std::string link = dir_.path() + "/link";
    ASSERT_EQ(symlink(strict.c_str(), link.c_str()), 0);
    ExpectRefused(url, "--chap-secret-file " + link, 2, "symbolic link");
    const std::string foreign = SecretFile("foreign", kUserSecret, 0600);
    ASSERT_EQ(chown(foreign.c_str(), 65534, 65534), 0);
    ExpectRefused(url, "--chap-secret-file " + foreign, 2, "not owned");
    ExpectRefused(url, "--chap-secret-file " + dir_.path() + "/missing", 2, "No such file");
    ExpectRefused(url, "--chap-secret-file " + SecretFile("empty", "", 0600), 2, "empty");
    ExpectRefused(url, "", 2, "needs a secret");
    ExpectRefused("iscsi://labuser%" + std::string(kUserSecret) + "@" + lab_->Portal() + "/" +
                      lab_->Iqn() + "/1",
                  "", 2, "secret in the URL is refused");
    ExpectRefused(url, "--chap-target-user labtarget --chap-secret-file " + strict, 2,
                  "target's secret");
    ExpectRefused(lab_->Url(),
                  "--chap-target-user labtarget --chap-target-secret-file " +
                      SecretFile("t", kTargetSecret, 0600),
                  2, "needs a CHAP user in every URL");

    // From the environment, mutual CHAP included; the daemon's command line holds neither.
    setenv("LUNFS_CHAP_SECRET", kUserSecret, 1);
    setenv("LUNFS_CHAP_TARGET_SECRET", kTargetSecret, 1);
    Mount mount(Mp(), {url}, "--chap-target-user labtarget");
    unsetenv("LUNFS_CHAP_SECRET");
    unsetenv("LUNFS_CHAP_TARGET_SECRET");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    ExpectNoSecretIn(
        Shell("tr '\\0' ' ' < /proc/" + std::to_string(mount.Pid()) + "/cmdline").output);
    ExpectNoSecretIn(ReadText(Mp() + ".log"));
}

// A daemon that dies of a signal says nothing of its secrets on the way out.
TEST_F(SecurityTest, ACrashingDaemonPrintsNoSecret) {
    StartChapLab();
    const std::string log = dir_.path() + "/foreground.log";
    const std::string cmd = LunfsBinary() + " mount -f --log-level trace --chap-secret-file " +
                            SecretFile("user", kUserSecret, 0600) +
                            " --chap-target-user labtarget --chap-target-secret-file " +
                            SecretFile("target", kTargetSecret, 0600) + " " + Mp() + " " +
                            UrlAs("labuser") + " >" + log + " 2>&1 & echo $!";
    mkdir(Mp().c_str(), 0755);
    const int pid = std::atoi(Shell(cmd).output.c_str());
    ASSERT_GT(pid, 0);
    for (int i = 0; i < 100 && Shell("grep -q ' " + Mp() + " ' /proc/mounts").exit_code != 0; ++i)
        std::this_thread::sleep_for(100ms);
    EXPECT_EQ(kill(pid, SIGABRT), 0);  // not SIGSEGV, which AddressSanitizer reports as its own
    for (int i = 0; i < 100 && kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(50ms);
    Shell("umount -l " + Mp());
    const std::string out = ReadText(log);
    EXPECT_NE(out.find("up;"), std::string::npos) << out;  // it did log in and log at trace
    ExpectNoSecretIn(out);
}

// ---- Access ---------------------------------------------------------------------------------

// Runs `command` as user nobody.
CommandResult AsNobody(const std::string& command) {
    return Shell("setpriv --reuid=65534 --regid=65534 --clear-groups sh -c '" + command + "'");
}

TEST_F(SecurityTest, TheMountIsPrivateUnlessAllowOtherAndFilesKeepTheirMode) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    chmod(dir_.path().c_str(), 0755);  // so that another user can reach the mountpoint
    {
        Mount mount(Mp(), {lab.Url()});
        ASSERT_TRUE(mount.ok()) << mount.result().output;
        CommandResult ls = AsNobody("ls " + Mp());
        EXPECT_NE(ls.exit_code, 0);
        EXPECT_NE(ls.output.find("Permission denied"), std::string::npos) << ls.output;
        EXPECT_NE(Shell("grep ' " + Mp() + " ' /proc/mounts").output.find("default_permissions"),
                  std::string::npos);
    }
    Mount mount(Mp(), {lab.Url()}, "--allow-other");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    CommandResult ls = AsNobody("ls " + Mp());
    EXPECT_EQ(ls.exit_code, 0) << ls.output;
    EXPECT_EQ(ls.output, "lun1\n");
    CommandResult read = AsNobody("head -c 1 " + mount.File());  // mode 0600, owned by root
    EXPECT_NE(read.exit_code, 0);
    EXPECT_NE(read.output.find("Permission denied"), std::string::npos) << read.output;
}

// Writes 4 KiB with O_DIRECT at 0 and returns errno (0 on success).
int DirectWriteErrno(const std::string& file) {
    const int fd = open(file.c_str(), O_WRONLY | O_DIRECT);
    if (fd < 0) return errno;
    void* buf = nullptr;
    if (posix_memalign(&buf, 4096, 4096) != 0) return ENOMEM;
    std::memset(buf, 0x6b, 4096);
    const ssize_t n = pwrite(fd, buf, 4096, 0);
    const int err = n == 4096 ? 0 : errno;
    std::free(buf);
    close(fd);
    return err;
}

TEST_F(SecurityTest, ReadOnlyMountRefusesWritesWithErofs) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    const std::vector<char> data = RandomBytes(1 << 20, 62);
    WriteFile(lab.Backing(), data);
    Mount mount(Mp(), {lab.Url()}, "--read-only");
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    EXPECT_NE(Shell("grep ' " + Mp() + " ' /proc/mounts").output.find(" ro,"), std::string::npos);
    EXPECT_EQ(DirectWriteErrno(mount.File()), EROFS);
    struct stat st;
    ASSERT_EQ(stat(mount.File().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0400u);
    EXPECT_EQ(ReadFileRange(mount.File(), 0, data.size()), data);
}

// A LUN the target write-protects answers writes with DATA PROTECT: the writer sees EROFS, never
// EIO, and reads go on.
TEST_F(SecurityTest, WriteProtectedLunFailsWritesWithErofsNotEio) {
    LabOptions lo;
    lo.read_only = true;
    lo.portals = 2;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    const std::vector<char> data = RandomBytes(1 << 20, 63);
    WriteFile(lab.Backing(), data);
    Mount mount(Mp(), lab.Urls());
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    EXPECT_EQ(DirectWriteErrno(mount.File()), EROFS);
    // A buffered write of part of a block: read-modify-write, the write refused.
    const int fd = open(mount.File().c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    errno = 0;
    EXPECT_EQ(pwrite(fd, "xyz", 3, 1001), -1);
    EXPECT_EQ(errno, EROFS);
    close(fd);
    EXPECT_EQ(ReadFileRange(mount.File(), 0, data.size()), data);
    EXPECT_EQ(ReadFileRange(lab.Backing(), 0, data.size()), data);
    EXPECT_EQ(StatsJson(mount)["luns"][0]["paths"][0]["state"], "up");
}

// ---- Bad input on the command line ----------------------------------------------------------

TEST_F(SecurityTest, BadOptionValuesAreRefusedWithExitCode2) {
    mkdir(Mp().c_str(), 0755);
    const std::string url = " iscsi://127.0.0.1/iqn.2026-11.io.lunfs:x/1";
    const std::pair<const char*, const char*> cases[] = {
        {"--queue-depth 0", "--queue-depth"},
        {"--queue-depth many", "--queue-depth"},
        {"--no-path-timeout -1", "--no-path-timeout"},
        {"--no-path-timeout soon", "--no-path-timeout"},
        {"--policy fastest", "--policy: unknown value 'fastest'"},
        {"--log-level loud", "--log-level: unknown value 'loud'"},
        {"--max-extent 1", "--max-extent"},
        {"--login-timeout 0", "--login-timeout"},
        {"--command-timeout 99999", "--command-timeout"},
        {"--fuse-threads 0", "--fuse-threads"},
        {"--name a/b", "cannot be a file name"},
        {"--name .hidden", "cannot be a file name"},
        {"--no-such-option", "--no-such-option"},
    };
    for (const auto& [args, expect] : cases) {
        CommandResult r = Shell(LunfsBinary() + " mount " + args + " " + Mp() + url);
        EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
        // The first line says what is wrong (a second one may point to --help).
        EXPECT_NE(r.output.substr(0, r.output.find('\n')).find(expect), std::string::npos)
            << args << "\n"
            << r.output;
    }
    EXPECT_EQ(Shell("grep -c ' " + Mp() + " ' /proc/mounts").output, "0\n");
}

TEST_F(SecurityTest, BadUrlsAreRefusedWithOneLineAndExitCode2) {
    mkdir(Mp().c_str(), 0755);
    const std::string long_name = "iqn.2026-11.io.lunfs:" + std::string(203, 'a');  // 224 bytes
    const std::pair<std::string, const char*> cases[] = {
        {"iscsi://127.0.0.1/" + long_name + "/1", "limit is 223"},
        {"iscsi://127.0.0.1/iqn.2026-11.io.lunfs:x/16384", "LUN '16384'"},
        {"iscsi://127.0.0.1/iqn.2026-11.io.lunfs:x/-1", "LUN '-1'"},
        {"iscsi://127.0.0.1/iqn.2026-11.io.lunfs:x/", "empty LUN"},
        {"iscsi:///iqn.2026-11.io.lunfs:x/1", "empty host"},
        {"iscsi://127.0.0.1:/iqn.2026-11.io.lunfs:x/1", "empty port"},
        {"iscsi://127.0.0.1//1", "empty target"},
        {"iscsi://[::1/iqn.2026-11.io.lunfs:x/1", "unclosed"},
        {"iscsi://[::1]x/iqn.2026-11.io.lunfs:x/1", "junk after ']'"},
        {"iscsi://[127.0.0.1]/iqn.2026-11.io.lunfs:x/1", "not IPv6"},
        {"iscsi://@127.0.0.1/iqn.2026-11.io.lunfs:x/1", "empty user"},
        {"iscsi://127.0.0.1/iqn.2026-11.io.lunfs:x%zz/1", "malformed % escape"},
        {"iscsi://127.0.0.1/target.without.prefix/1", "must start with iqn."},
        {"iscsi://host name/iqn.2026-11.io.lunfs:x/1", "not allowed in the host"},
        {"nfs://127.0.0.1/iqn.2026-11.io.lunfs:x/1", "iscsi://"},
    };
    for (const auto& [url, expect] : cases) {
        CommandResult r = Shell(LunfsBinary() + " mount " + Mp() + " '" + url + "'");
        EXPECT_EQ(r.exit_code, 2) << url << "\n" << r.output;
        EXPECT_NE(r.output.find(expect), std::string::npos) << url << "\n" << r.output;
        EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    }
}

}  // namespace
}  // namespace lunfs::test
