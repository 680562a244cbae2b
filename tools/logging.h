// Logging setup for the lunfs command: spdlog to stderr in the foreground, to a file or syslog
// once the daemon is in the background.
#pragma once

#include <string>

#include "core/status.h"

namespace lunfs {

// Checks a --log-level value (trace, debug, info, warn, error, critical, off).
Status ValidateLogLevel(const std::string& level);

// Sends the default logger to stderr (foreground), `file` (when not empty) or syslog.
void SetUpLogging(const std::string& level, bool foreground, const std::string& file);

}  // namespace lunfs
