// The FUSE boundary in-process: a handler that throws (a device failing in a way it must not)
// answers its request EIO and the mount goes on serving, instead of unwinding into libfuse's C
// and ending the daemon.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <thread>

#include "fuse/lun_fs.h"
#include "fuse/session.h"
#include "tests/integration/harness.h"

namespace lunfs::test {
namespace {

// A 1 MiB device whose reads throw and whose writes succeed at once.
class ThrowingDevice final : public BlockDevice {
  public:
    uint64_t Capacity() const override { return 1 << 20; }
    uint32_t BlockSize() const override { return 512; }
    uint32_t Alignment() const override { return 1; }
    void Submit(IoRequest request) override {
        if (request.op == IoOp::kRead) throw std::bad_alloc();
        request.done(Status::Ok());
    }
};

using FuseGuardTest = IntegrationTest;

TEST_F(FuseGuardTest, AHandlerThatThrowsAnswersEioAndTheMountGoesOn) {
    const std::string mp = Mp();
    ASSERT_EQ(mkdir(mp.c_str(), 0755), 0);
    LunFs fs({{"lun1", std::make_shared<ThrowingDevice>(), false}}, {}, FsOptions{});
    Result<std::unique_ptr<FuseSession>> session = FuseSession::Mount(fs, mp, MountOptions{});
    ASSERT_TRUE(session.ok()) << session.status().ToString();
    std::thread serve([&] { (void)session.value()->Run(1); });
    // Unmounted and joined in every outcome: Run() returns once the mount is gone.
    struct Stop {
        std::string mp;
        std::thread& serve;
        ~Stop() {
            Shell("fusermount3 -u " + mp + " 2>/dev/null || umount -l " + mp);
            serve.join();
        }
    } stop{mp, serve};
    const int fd = open((mp + "/lun1").c_str(), O_RDWR | O_DIRECT);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    alignas(4096) static char buf[4096];
    errno = 0;
    EXPECT_EQ(pread(fd, buf, sizeof buf, 0), -1);
    EXPECT_EQ(errno, EIO) << std::strerror(errno);
    EXPECT_EQ(pwrite(fd, buf, sizeof buf, 0), static_cast<ssize_t>(sizeof buf))
        << "the mount stopped serving after the handler threw: " << std::strerror(errno);
    close(fd);
}

}  // namespace
}  // namespace lunfs::test
