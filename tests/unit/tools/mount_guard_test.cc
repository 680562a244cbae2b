// Which lunfs mounts of a host stand in the way of a new one.
#include "tools/mount_guard.h"

#include <gtest/gtest.h>

namespace lunfs {
namespace {

TEST(MountGuardTest, FindsLunfsMountsInMountinfoWithEscapedNames) {
    const std::string mountinfo =
        "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
        "61 22 0:53 / /mnt/san rw,nosuid,nodev,relatime - fuse.lunfs lunfs:iqn.x rw,user_id=0\n"
        "62 22 0:54 / /mnt/my\\040disk rw - fuse.lunfs lunfs:iqn.y rw,user_id=0\n"
        "63 22 0:55 / /mnt/other rw - fuse.sshfs host: rw\n";
    EXPECT_EQ(LunfsMountpoints(mountinfo), (std::vector<std::string>{"/mnt/san", "/mnt/my disk"}));
    EXPECT_TRUE(LunfsMountpoints("").empty());
}

TEST(MountGuardTest, ALunMountedElsewhereWithACacheIsRefusedUnlessBothUseNoneOrSharedIsSaid) {
    const std::vector<MountedIdentity> others = {
        {"/mnt/a", "lun1", "naa.6001", "read", 41},
        {"/mnt/b", "disk", "naa.6002", "none", 42},
    };
    EXPECT_TRUE(CheckSharedLun("lun1", "naa.7000", "read", false, others).ok());  // other LUN
    Status s = CheckSharedLun("lun1", "naa.6001", "read", false, others);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.message(),
              "lun1: LUN naa.6001 is already mounted as lun1 on /mnt/a (lunfs pid 41, --cache "
              "read); two lunfs daemons with a cache on one LUN serve each other's overwritten "
              "data: unmount it, or mount both with --cache none (or add --shared-lun if "
              "something above coordinates them)");
    EXPECT_FALSE(CheckSharedLun("lun1", "naa.6001", "none", false, others).ok());    // theirs
    EXPECT_FALSE(CheckSharedLun("x", "naa.6002", "writeback", false, others).ok());  // ours
    EXPECT_TRUE(CheckSharedLun("x", "naa.6002", "none", false, others).ok());
    EXPECT_TRUE(CheckSharedLun("x", "naa.6001", "writeback", true, others).ok());
}

}  // namespace
}  // namespace lunfs
