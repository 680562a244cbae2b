#include "tests/integration/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

namespace lunfs::test {

std::string LunfsBinary() {
    // LUNFS_BINARY in the environment runs the tests against another build of the daemon (one
    // under AddressSanitizer, say).
    const char* other = std::getenv("LUNFS_BINARY");
    return other && *other ? other : LUNFS_BINARY;
}
std::string SourceDir() { return LUNFS_SOURCE_DIR; }
std::string TestIscsiBinary() { return LUNFS_TEST_ISCSI; }

size_t PrState::Count(const std::string& key) const {
    return static_cast<size_t>(std::count(keys.begin(), keys.end(), key));
}

std::string PrState::Text() const {
    std::string out;
    for (const std::string& k : keys) out += k + " ";
    return out + "reservation=" + reservation;
}

PrState ShowReservations(const Lab& lab) {
    const CommandResult r = Shell(TestIscsiBinary() + " pr-show " + lab.Url(0));
    PrState out;
    std::istringstream in(r.output);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("key=", 0) == 0) out.keys.push_back(line.substr(4));
        if (line.rfind("reservation=", 0) == 0) out.reservation = line.substr(12);
    }
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return out;
}
std::string HoldFsBinary() { return LUNFS_TEST_HOLDFS; }

CommandResult Shell(const std::string& command) {
    CommandResult r;
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (!pipe) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
    const int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

std::string MissingPrerequisite() {
    if (geteuid() != 0) return "integration tests need root (tgtd, mounts)";
    if (access("/dev/fuse", R_OK | W_OK) != 0) return "no usable /dev/fuse";
    if (Shell("command -v tgtd tgtadm fusermount3").exit_code != 0)
        return "tgt or fuse3 not installed";
    return "";
}

void IntegrationTest::SetUp() {
    const std::string why = MissingPrerequisite();
    if (why.empty()) return;
    if (std::getenv("LUNFS_REQUIRE_INTEGRATION")) FAIL() << why;
    GTEST_SKIP() << why;
}

void WriteFile(const std::string& path, const std::vector<char>& data, uint64_t offset,
               uint64_t size) {
    {
        std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
        if (!out) out.open(path, std::ios::binary | std::ios::out);
        out.seekp(static_cast<std::streamoff>(offset));
        out.write(data.data(), static_cast<std::streamsize>(data.size()));
    }
    if (size != 0) [[maybe_unused]]
        int rc = truncate(path.c_str(), static_cast<off_t>(size));
}

TempDir::TempDir() {
    char tmpl[] = "/tmp/lunfs-test-XXXXXX";
    path_ = mkdtemp(tmpl) ? tmpl : "";
    // Who owns it: tools/sweep removes only directories whose owner is gone.
    if (!path_.empty()) std::ofstream(path_ + "/owner.pid") << getpid() << "\n";
}

TempDir::~TempDir() {
    if (path_.empty()) return;
    if (std::getenv("LUNFS_KEEP_TEST_DIRS")) {  // for a post-mortem: logs stay, labs are stopped
        std::remove((path_ + "/owner.pid").c_str());
        std::printf("kept %s\n", path_.c_str());
        return;
    }
    Shell("rm -rf '" + path_ + "'");
}

Lab::Lab(const std::string& dir, const LabOptions& o) : dir_(dir) {
    std::ostringstream cmd;
    cmd << SourceDir() << "/tools/lab start --dir " << dir << " --portals " << o.portals
        << " --luns " << o.luns << " --size " << o.size << " --block-size " << o.block_size;
    if (!o.iqn.empty()) cmd << " --iqn " << o.iqn;
    if (!o.chap_user.empty()) {
        cmd << " --chap-user " << o.chap_user << " --chap-secret-file " << o.chap_secret_file;
    }
    if (!o.chap_target_user.empty()) {
        cmd << " --chap-target-user " << o.chap_target_user << " --chap-target-secret-file "
            << o.chap_target_secret_file;
    }
    if (o.read_only) cmd << " --read-only";
    if (o.thin) cmd << " --thin";
    if (!o.backing.empty()) cmd << " --backing " << o.backing;
    CommandResult r = Shell(cmd.str());
    if (r.exit_code != 0) {
        error_ = r.output;
        Shell(SourceDir() + "/tools/lab stop --dir " + dir_);
        return;
    }
    LoadEnv();
    ok_ = env_.count("LAB_PORTALS") != 0;
    if (!ok_) error_ = "lab.env incomplete";
}

Lab::~Lab() {
    Shell(SourceDir() + "/tools/lab stop --dir " + dir_ +
          (std::getenv("LUNFS_KEEP_TEST_DIRS") ? " --keep-backing" : ""));
}

void Lab::LoadEnv() {
    std::ifstream env(dir_ + "/lab.env");
    std::string line;
    while (std::getline(env, line)) {
        const size_t eq = line.find('=');
        if (eq == std::string::npos) continue;
        std::string value = line.substr(eq + 1);
        if (value.size() >= 2 && value.front() == '\'') value = value.substr(1, value.size() - 2);
        env_[line.substr(0, eq)] = value;
    }
}

int Lab::Pid() const { return std::atoi(env_.at("LAB_PID").c_str()); }

CommandResult Lab::Restart(double down_s, bool kill) {
    CommandResult r = Shell(SourceDir() + "/tools/lab restart --dir " + dir_ + " --down " +
                            std::to_string(down_s) + (kill ? " --kill" : ""));
    LoadEnv();
    return r;
}

bool Lab::Freeze() { return ::kill(Pid(), SIGSTOP) == 0; }
bool Lab::Thaw() { return ::kill(Pid(), SIGCONT) == 0; }

CommandResult Lab::LunReset(int lun) const {
    return Shell(TestIscsiBinary() + " lun-reset " + Url(0, lun));
}

CommandResult Lab::AddPortal(const std::string& portal) const {
    return Shell("tgtadm -C " + env_.at("LAB_CTL") +
                 " --lld iscsi --op new --mode portal --param "
                 "'portal=" +
                 portal + "'");
}

int Lab::Sessions() const {
    CommandResult r = Shell("tgtadm -C " + env_.at("LAB_CTL") +
                            " --lld iscsi --op show --mode target | grep -c 'I_T nexus:'");
    return std::atoi(r.output.c_str());
}

std::vector<int> Lab::Ports() const {
    std::vector<int> out;
    std::istringstream in(env_.at("LAB_PORTALS"));
    std::string p;
    while (in >> p) out.push_back(std::atoi(p.substr(p.rfind(':') + 1).c_str()));
    return out;
}

std::string Lab::Portal(int portal) const {
    std::istringstream in(env_.at("LAB_PORTALS"));
    std::string p;
    for (int i = 0; i <= portal; ++i) in >> p;
    return p;
}

std::string Lab::Url(int portal, int lun) const {
    return "iscsi://" + Portal(portal) + "/" + Iqn() + "/" + std::to_string(lun);
}

int Lab::Port(int portal) const {
    const std::string p = Portal(portal);
    return std::atoi(p.substr(p.rfind(':') + 1).c_str());
}

std::vector<std::string> Lab::Urls(int lun) const {
    std::vector<std::string> out;
    std::istringstream in(env_.at("LAB_PORTALS"));
    std::string p;
    while (in >> p) out.push_back("iscsi://" + p + "/" + Iqn() + "/" + std::to_string(lun));
    return out;
}

std::string Lab::Backing(int lun) const {
    std::istringstream in(env_.count("LAB_BACKING") ? env_.at("LAB_BACKING") : "");
    std::string file;
    for (int i = 0; i < lun && in >> file;) ++i;
    return file.empty() ? dir_ + "/lun" + std::to_string(lun) + ".img" : file;
}

Mount::Mount(const std::string& mountpoint, const std::vector<std::string>& urls,
             const std::string& args)
    : mountpoint_(mountpoint), log_(mountpoint + ".log") {
    mkdir(mountpoint.c_str(), 0755);
    std::string cmd = LunfsBinary() + " mount --log-file " + log_ + " --log-level debug " + args +
                      " " + mountpoint;
    for (const std::string& u : urls) cmd += " " + u;
    result_ = Shell(cmd);
    mounted_ = result_.exit_code == 0;
}

Mount::~Mount() {
    if (!mounted_) return;
    const int pid = Pid();
    if (Unmount().exit_code != 0) {
        // Last resort, so that no test leaves a mount or a daemon behind.
        Shell("umount -l '" + mountpoint_ + "'");
        if (pid > 0) Shell("kill -9 " + std::to_string(pid));
    }
}

CommandResult Mount::Unmount() {
    mounted_ = false;
    return Shell(LunfsBinary() + " unmount " + mountpoint_);
}

std::string Mount::Stats() const { return ReadText(mountpoint_ + "/.lunfs/stats"); }

int Mount::Pid() const {
    std::ifstream in(mountpoint_ + "/.lunfs/pid");
    int pid = 0;
    in >> pid;
    return pid;
}

nlohmann::json StatsJson(const Mount& mount) {
    return nlohmann::json::parse(mount.Stats(), nullptr, false);
}

bool WaitAllPathsActive(const Mount& mount, std::chrono::seconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        const nlohmann::json st = StatsJson(mount);
        if (!st.is_discarded() && st.contains("luns")) {
            bool all = true;
            for (const auto& p : st["luns"][0]["paths"]) all = all && p["use"] == "active";
            if (all) return true;
        }
        usleep(100 * 1000);
    }
    return false;
}

double Ms(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

std::vector<char> RandomBytes(size_t size, uint32_t seed) {
    std::mt19937 gen(seed);
    std::vector<char> out(size);
    for (char& c : out) c = static_cast<char>(gen());
    return out;
}

namespace {
struct AlignedBuffer {
    explicit AlignedBuffer(size_t bytes) : size(bytes) {
        void* p = nullptr;
        if (posix_memalign(&p, 4096, std::max<size_t>(bytes, 4096)) == 0)
            data = static_cast<char*>(p);
    }
    ~AlignedBuffer() { std::free(data); }
    char* data = nullptr;
    size_t size;
};
}  // namespace

bool WriteDirect(const std::string& file, uint64_t offset, const std::vector<char>& data) {
    const int fd = open(file.c_str(), O_WRONLY | O_DIRECT);
    if (fd < 0) return false;
    AlignedBuffer buf(data.size());
    std::memcpy(buf.data, data.data(), data.size());
    const ssize_t n = pwrite(fd, buf.data, data.size(), static_cast<off_t>(offset));
    const bool ok = n == static_cast<ssize_t>(data.size()) && fsync(fd) == 0;
    return close(fd) == 0 && ok;
}

bool ReadDirect(const std::string& file, uint64_t offset, size_t size, std::vector<char>& out) {
    const int fd = open(file.c_str(), O_RDONLY | O_DIRECT);
    if (fd < 0) return false;
    AlignedBuffer buf(size);
    const ssize_t n = pread(fd, buf.data, size, static_cast<off_t>(offset));
    close(fd);
    if (n != static_cast<ssize_t>(size)) return false;
    out.assign(buf.data, buf.data + size);
    return true;
}

std::string ReadText(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<char> ReadFileRange(const std::string& file, uint64_t offset, size_t size) {
    std::vector<char> out(size);
    const int fd = open(file.c_str(), O_RDONLY);
    if (fd < 0) return {};
    const ssize_t n = pread(fd, out.data(), size, static_cast<off_t>(offset));
    close(fd);
    if (n != static_cast<ssize_t>(size)) return {};
    return out;
}

}  // namespace lunfs::test
