// The JSON document behind `/.lunfs/stats`, and its reading for `lunfs status`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/multipath_device.h"

namespace lunfs {

struct MountedLun {
    std::string file;  // name in the mount root
    std::shared_ptr<MultipathDevice> device;
};

std::string RenderStatsJson(const std::vector<MountedLun>& luns);

}  // namespace lunfs
