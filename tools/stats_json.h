// The JSON document behind `/.lunfs/stats`: every LUN with its paths and their counters.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/lun_device.h"

namespace lunfs {

struct MountedLun {
    std::string file;  // name in the mount root
    std::shared_ptr<LunDevice> device;
};

std::string RenderStatsJson(const std::vector<MountedLun>& luns);

}  // namespace lunfs
