// Mounting the way Linux admins do: mount.fuse3 with -o options, an fstab line through mount(8),
// and a mount that its non-root owner unmounts.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "tests/integration/ops_helpers.h"

namespace lunfs::test {
namespace {

using namespace std::chrono_literals;
using OpsMountTest = IntegrationTest;

constexpr uid_t kNobody = 65534;

// A directory holding a `lunfs` that runs the binary under test, for PATH.
std::string BinDir(const std::string& dir) {
    const std::string bin = dir + "/bin";
    mkdir(bin.c_str(), 0755);
    symlink(Lunfs().c_str(), (bin + "/lunfs").c_str());
    return bin;
}

TEST_F(OpsMountTest, MountFuse3PassesOptionsWithTheNamesOfTheCommandLine) {
    LabOptions lo;
    lo.portals = 2;
    lo.size = "64M";
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    mkdir(Mp().c_str(), 0755);
    const std::string bin = BinDir(dir_.path());
    const std::string log = dir_.path() + "/helper.log";
    UnmountGuard guard(Mp());
    CommandResult r =
        Shell("PATH=" + bin + ":$PATH mount.fuse3 '" + lab.Url(0) + "," + lab.Url(1) + "' " + Mp() +
              " -t lunfs -o rw,nosuid,nodev,_netdev,name=disk,policy=failover,"
              "queue_depth=8,log-file=" +
              log + ",ro");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const nlohmann::json st = Json(Stdout(Lunfs() + " status --json " + Mp()).output);
    EXPECT_EQ(st["luns"][0]["file"], "disk") << st.dump();
    EXPECT_EQ(st["luns"][0]["policy"], "failover");
    EXPECT_EQ(st["luns"][0]["read_only"], true);
    EXPECT_EQ(st["luns"][0]["paths"].size(), 2u);
    EXPECT_NE(ReadText("/proc/mounts").find(" " + Mp() + " fuse.lunfs ro,"), std::string::npos)
        << ReadText("/proc/mounts");
    CommandResult u = Shell(Lunfs() + " unmount " + Mp());
    EXPECT_EQ(u.exit_code, 0) << u.output;
    EXPECT_FALSE(Mounted(Mp()));

    CommandResult bad = Shell("PATH=" + bin + ":$PATH mount.fuse3 '" + lab.Url(0) + "' " + Mp() +
                              " -t lunfs -o polcy=failover");
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.output.find("unknown mount option 'polcy'"), std::string::npos) << bad.output;
    EXPECT_FALSE(Mounted(Mp()));
}

// mount(8) runs helpers with a fixed PATH, so lunfs must be where an install puts it: the test
// runs in a mount namespace of its own where /usr/local/bin holds it.
TEST_F(OpsMountTest, AnFstabLineMountsThroughMountAndMountFuse3) {
    LabOptions lo;
    lo.portals = 2;
    lo.luns = 2;
    lo.size = "64M";
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    mkdir(Mp().c_str(), 0755);
    const std::string bin = BinDir(dir_.path());
    const std::string config = dir_.path() + "/scratch.toml";
    WriteText(config, "[[lun]]\nname = \"scratch\"\nurls = [\"" + lab.Url(0, 2) + "\", \"" +
                          lab.Url(1, 2) + "\"]\n");
    const std::string fstab = dir_.path() + "/fstab";
    WriteText(fstab, "# lunfs test\n" + lab.Url(0, 1) + "," + lab.Url(1, 1) + "  " + Mp() +
                         "  fuse.lunfs  _netdev,noatime,name=vm1,max_extent=256  0 0\n" + config +
                         "  " + Mp() + "2  fuse.lunfs  defaults,_netdev  0 0\n");
    mkdir((Mp() + "2").c_str(), 0755);
    const std::vector<char> data = RandomBytes(4 << 20, 41);
    const std::string src = dir_.path() + "/src.bin";
    WriteFile(src, data);
    const std::string out = dir_.path() + "/out";
    mkdir(out.c_str(), 0755);
    const std::string L = Lunfs();
    const std::string mp2 = Mp() + "2";
    const std::vector<std::string> lines = {
        "set -e",
        "trap 'rc=$?; set +e; " + L + " unmount " + Mp() + " >/dev/null 2>&1 || umount -l " + Mp() +
            " 2>/dev/null; " + L + " unmount " + mp2 + " >/dev/null 2>&1 || umount -l " + mp2 +
            " 2>/dev/null; exit $rc' EXIT",
        "mount --bind " + bin + " /usr/local/bin",
        "env -u PATH mount -T " + fstab + " " + Mp(),
        "mount -T " + fstab + " " + mp2,
        "grep ' " + Mp() + " fuse.lunfs ' /proc/mounts > " + out + "/mounts",
        "ls " + Mp() + " " + mp2 + " > " + out + "/files",
        "dd if=" + src + " of=" + Mp() + "/vm1 bs=1M oflag=direct conv=notrunc status=none",
        L + " status --json " + Mp() + " > " + out + "/status.json",
        L + " unmount " + Mp(),
        L + " unmount " + mp2,
    };
    std::string script;
    for (const std::string& line : lines) script += line + "\n";
    WriteText(dir_.path() + "/fstab.sh", script, 0755);
    CommandResult r =
        Shell("unshare --mount --propagation private sh " + dir_.path() + "/fstab.sh");
    ASSERT_EQ(r.exit_code, 0) << r.output << script;
    EXPECT_NE(ReadText(out + "/mounts").find("lunfs:" + lab.Iqn()), std::string::npos);
    EXPECT_EQ(ReadText(out + "/files"), Mp() + ":\nvm1\n\n" + Mp() + "2:\nscratch\n");
    EXPECT_EQ(ReadFileRange(lab.Backing(1), 0, data.size()), data);
    const nlohmann::json st = Json(ReadText(out + "/status.json"));
    ASSERT_FALSE(st.is_discarded());
    EXPECT_EQ(st["luns"][0]["paths"].size(), 2u) << st.dump();
    EXPECT_FALSE(Mounted(Mp()));
}

// Sanitizer builds log to a directory the test command reads and that only root may write: a
// process of another user logs to `dir` instead (the returned shell lines say so), and
// CollectSanitizerLogs moves its reports there afterwards.
std::string SanitizerLogsTo(const std::string& dir) {
    std::string lines;
    for (const char* var : {"ASAN_OPTIONS", "UBSAN_OPTIONS"}) {
        const char* value = std::getenv(var);
        if (!value) continue;
        std::string options = value;
        const size_t at = options.find("log_path=");
        if (at == std::string::npos) continue;
        const size_t end = options.find(':', at);
        const std::string path = options.substr(at + 9, end - at - 9);
        options.replace(at + 9, path.size(), dir + "/" + path.substr(path.rfind('/') + 1));
        lines += "export " + std::string(var) + "='" + options + "'\n";
    }
    return lines;
}

void CollectSanitizerLogs(const std::string& dir) {
    for (const char* var : {"ASAN_OPTIONS", "UBSAN_OPTIONS"}) {
        const char* value = std::getenv(var);
        const std::string options = value ? value : "";
        const size_t at = options.find("log_path=");
        if (at == std::string::npos) continue;
        const std::string path = options.substr(at + 9, options.find(':', at) - at - 9);
        Shell("cp " + dir + "/* " + path.substr(0, path.rfind('/')) + "/ 2>/dev/null");
    }
}

// A user mounts without root (through fusermount3) and unmounts the same way. Distributions
// make /dev/fuse 0666 for this; where it is not (containers), the test runs in a mount namespace
// of its own where it is.
TEST_F(OpsMountTest, ANonRootOwnerMountsAndUnmounts) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
    mkdir(Mp().c_str(), 0755);
    ASSERT_EQ(chown(Mp().c_str(), kNobody, kNobody), 0);
    const std::string out = dir_.path() + "/out";
    mkdir(out.c_str(), 0755);
    mkdir((out + "/san").c_str(), 0755);
    ASSERT_EQ(chown(out.c_str(), kNobody, kNobody), 0);
    ASSERT_EQ(chown((out + "/san").c_str(), kNobody, kNobody), 0);
    const std::string as_user = "setpriv --reuid=" + std::to_string(kNobody) +
                                " --regid=" + std::to_string(kNobody) + " --clear-groups ";
    const std::string L = Lunfs();
    const std::string node = dir_.path() + "/fuse";
    const std::vector<std::string> lines = {
        "set -e",
        "trap 'rc=$?; set +e; umount -l " + Mp() + " 2>/dev/null; exit $rc' EXIT",
        "mknod " + node + " c 10 229",
        "chmod 666 " + node,
        "mount --bind " + node + " /dev/fuse",
        SanitizerLogsTo(out + "/san") + "cd " + out,
        as_user + L + " mount --log-file " + out + "/user.log " + Mp() + " " + lab.Url(),
        as_user + "cat " + Mp() + "/.lunfs/pid > " + out + "/pid",
        "grep ' " + Mp() + " ' /proc/mounts > " + out + "/mounts",
        as_user + "ls -l " + Mp() + " > " + out + "/files",
        as_user + L + " unmount " + Mp(),
        "grep -c ' " + Mp() + " ' /proc/mounts > " + out + "/after || true",
    };
    std::string script;
    for (const std::string& line : lines) script += line + "\n";
    WriteText(dir_.path() + "/user.sh", script, 0755);
    CommandResult r = Shell("unshare --mount --propagation private sh " + dir_.path() + "/user.sh");
    const int pid = std::atoi(ReadText(out + "/pid").c_str());
    if (pid > 0 && Alive(pid)) Shell("kill -9 " + std::to_string(pid));
    CollectSanitizerLogs(out + "/san");
    ASSERT_EQ(r.exit_code, 0) << r.output << ReadText(out + "/user.log") << script;
    EXPECT_NE(ReadText(out + "/mounts").find("fuse.lunfs rw,nosuid,nodev"), std::string::npos);
    EXPECT_NE(ReadText(out + "/mounts").find("user_id=65534"), std::string::npos)
        << ReadText(out + "/mounts");
    EXPECT_NE(ReadText(out + "/files").find(" nobody "), std::string::npos)
        << ReadText(out + "/files");
    EXPECT_EQ(ReadText(out + "/after"), "0\n");
    EXPECT_GT(pid, 0);
    EXPECT_FALSE(Alive(pid));  // unmount waits for the daemon
}

}  // namespace
}  // namespace lunfs::test
