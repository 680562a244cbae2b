// Test harness for integration tests: a real tgtd lab target (tools/lab) and a real lunfs mount,
// both torn down in every outcome by their destructors.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/integration/faults.h"

namespace lunfs::test {

struct CommandResult {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
};

// Runs a shell command line and waits for it.
CommandResult Shell(const std::string& command);

// Why integration tests cannot run here ("" when they can): they need root, /dev/fuse and tgtd.
std::string MissingPrerequisite();

// A temporary directory, removed with everything in it (kept, for a post-mortem, when
// LUNFS_KEEP_TEST_DIRS is set).
class TempDir {
  public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

struct LabOptions {
    int portals = 1;
    int luns = 1;
    std::string size = "256M";
    int block_size = 512;
    std::string chap_user;  // when set, the target demands CHAP
    std::string chap_secret_file;
    std::string chap_target_user;  // when set, the target proves itself too (mutual CHAP)
    std::string chap_target_secret_file;
    bool read_only = false;  // every LUN write-protected
    bool thin = false;       // thin-provisioned LUNs (UNMAP, WRITE SAME with UNMAP)
    std::string backing;     // LUN 1's backing file, an existing one (a HoldDisk, say)
    std::string iqn;         // default: derived from the directory name
};

// A tgtd serving LUNs on loopback, started by tools/lab.
class Lab {
  public:
    explicit Lab(const std::string& dir, const LabOptions& options = {});
    ~Lab();
    bool ok() const { return ok_; }
    const std::string& error() const { return error_; }

    std::string Url(int portal = 0, int lun = 1) const;  // iscsi://127.0.0.1:P/iqn/lun
    std::string Backing(int lun = 1) const;              // the LUN's backing file
    const std::string& Iqn() const { return env_.at("LAB_IQN"); }
    std::string Portal(int portal = 0) const;
    int Port(int portal = 0) const;                    // the TCP port of a portal
    std::vector<std::string> Urls(int lun = 1) const;  // one per portal
    std::vector<int> Ports() const;                    // every portal's port

    int Pid() const;  // tgtd's process id
    // Stops tgtd (SIGKILL with `kill`, else cleanly) and starts it again `down_s` seconds later
    // with the same ports, backing files and LUN identities (tools/lab restart).
    CommandResult Restart(double down_s, bool kill);
    bool Freeze();  // SIGSTOP to tgtd; the destructor resumes it in any case
    bool Thaw();    // SIGCONT
    // Sends LOGICAL UNIT RESET for `lun` from another initiator; every session then gets a UNIT
    // ATTENTION.
    CommandResult LunReset(int lun = 1) const;
    // Opens one more portal ("[::1]:PORT", say) on the running target.
    CommandResult AddPortal(const std::string& portal) const;
    int Sessions() const;  // I_T nexuses the target holds now

  private:
    void LoadEnv();

    std::string dir_;
    bool ok_ = false;
    std::string error_;
    std::map<std::string, std::string> env_;
};

// A lunfs mount in the background (`lunfs mount`), unmounted on destruction.
class Mount {
  public:
    // `args` go between "mount" and the mountpoint (options), `urls` after it.
    Mount(const std::string& mountpoint, const std::vector<std::string>& urls,
          const std::string& args = "");
    ~Mount();
    bool ok() const { return result_.exit_code == 0; }
    const CommandResult& result() const { return result_; }
    std::string File(const std::string& name = "lun1") const { return mountpoint_ + "/" + name; }
    std::string Stats() const;  // contents of .lunfs/stats
    int Pid() const;            // the daemon's pid
    CommandResult Unmount();    // lunfs unmount; the destructor does nothing after it

  private:
    std::string mountpoint_;
    std::string log_;
    CommandResult result_;
    bool mounted_ = false;
};

// Base of every integration test: skips (or, with LUNFS_REQUIRE_INTEGRATION set, fails) where
// the machine cannot run them, and gives each test its own temporary directory.
class IntegrationTest : public ::testing::Test {
  protected:
    void SetUp() override;
    std::string Mp() const { return dir_.path() + "/mnt"; }
    std::string LabDir(const std::string& name = "lab") const { return dir_.path() + "/" + name; }

    TempDir dir_;
};

// Writes `data` at `offset` into `path` (created if missing), then sets its size to `size` when
// that is not 0.
void WriteFile(const std::string& path, const std::vector<char>& data, uint64_t offset = 0,
               uint64_t size = 0);

std::string LunfsBinary();  // the daemon under test: $LUNFS_BINARY, else this build's
std::string SourceDir();
std::string TestIscsiBinary();  // lunfs_test_iscsi, a second initiator for tests

// A LUN's persistent reservation state as another initiator reads it (lunfs_test_iscsi pr-show).
struct PrState {
    std::vector<std::string> keys;  // "0x...", one per registration
    std::string reservation;        // "none" or "0x... type=N"
    size_t Count(const std::string& key) const;
    std::string Text() const;  // for failure messages
};
PrState ShowReservations(const Lab& lab);
std::string HoldFsBinary();  // lunfs_test_holdfs, a disk that holds chosen writes

// .lunfs/stats of a mount, parsed (discarded when unreadable).
nlohmann::json StatsJson(const Mount& mount);
// Waits up to `limit` for every path of the first LUN to be in use.
bool WaitAllPathsActive(const Mount& mount, std::chrono::seconds limit);
// A duration in milliseconds, for reports.
double Ms(std::chrono::steady_clock::duration d);

// Random bytes from a fixed seed.
std::vector<char> RandomBytes(size_t size, uint32_t seed);

// Writes / reads with O_DIRECT through an aligned bounce buffer; false on any error or short
// transfer.
bool WriteDirect(const std::string& file, uint64_t offset, const std::vector<char>& data);
bool ReadDirect(const std::string& file, uint64_t offset, size_t size, std::vector<char>& out);
std::vector<char> ReadFileRange(const std::string& file, uint64_t offset, size_t size);
// The whole file as text; empty when it cannot be read.
std::string ReadText(const std::string& path);

}  // namespace lunfs::test
