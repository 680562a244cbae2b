// Discard end to end: fallocate(PUNCH_HOLE) on a mounted LUN reaches tgtd as UNMAP or WRITE SAME
// and frees the backing file's blocks; a LUN that cannot discard refuses and keeps its data.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace lunfs::test {
namespace {

using DiscardTest = IntegrationTest;

// fallocate() on `file`; 0 or the errno.
int Fallocate(const std::string& file, int mode, off_t offset, off_t length) {
    const int fd = open(file.c_str(), O_RDWR);
    if (fd < 0) return errno;
    const int rc = fallocate(fd, mode, offset, length) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

// Bytes of `path` actually stored (its blocks), not its size.
uint64_t Stored(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

TEST_F(DiscardTest, PunchingAHoleDiscardsTheRangeOnTheLunOverEveryPath) {
    LabOptions lo;
    lo.portals = 2;
    lo.thin = true;
    Lab lab(LabDir(), lo);
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls());
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    const std::vector<char> data = RandomBytes(16 << 20, 41);
    ASSERT_TRUE(WriteDirect(mount.File(), 0, data));
    ASSERT_EQ(Shell("sync -f " + lab.Backing()).exit_code, 0);
    const uint64_t before = Stored(lab.Backing());
    ASSERT_GE(before, 16u << 20);

    // [1 MiB + 100, 9 MiB + 7): the partial blocks at both ends are zeroed, the rest discarded.
    const off_t begin = (1 << 20) + 100, end = (9 << 20) + 7;
    ASSERT_EQ(
        Fallocate(mount.File(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, begin, end - begin), 0);
    std::vector<char> expected = data;
    std::fill(expected.begin() + begin, expected.begin() + end, 0);
    EXPECT_EQ(ReadFileRange(mount.File(), 0, expected.size()), expected);
    EXPECT_EQ(ReadFileRange(lab.Backing(), 0, expected.size()), expected);
    EXPECT_LE(Stored(lab.Backing()), before - (7u << 20)) << "the target freed nothing";
    const nlohmann::json st = nlohmann::json::parse(mount.Stats());
    uint64_t discards = 0;
    for (const auto& p : st["luns"][0]["paths"]) discards += p["discards"].get<uint64_t>();
    EXPECT_GE(discards, 1u) << st.dump();

    // Allocating inside the LUN changes nothing; beyond it is growing it.
    EXPECT_EQ(Fallocate(mount.File(), 0, 0, 4096), 0);
    EXPECT_EQ(Fallocate(mount.File(), 0, (256 << 20) - 4096, 8192), EFBIG);
    EXPECT_EQ(Fallocate(mount.File(), FALLOC_FL_ZERO_RANGE, 0, 4096), EOPNOTSUPP);
}

TEST_F(DiscardTest, ALunThatCannotDiscardRefusesAndKeepsItsData) {
    Lab lab(LabDir());
    ASSERT_TRUE(lab.ok()) << lab.error();
    Mount mount(Mp(), lab.Urls());
    ASSERT_TRUE(mount.ok()) << mount.result().output;
    const std::vector<char> data = RandomBytes(4 << 20, 42);
    ASSERT_TRUE(WriteDirect(mount.File(), 0, data));
    EXPECT_EQ(Fallocate(mount.File(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 3 << 20),
              EOPNOTSUPP);
    EXPECT_EQ(ReadFileRange(lab.Backing(), 0, data.size()), data);
}

}  // namespace
}  // namespace lunfs::test
