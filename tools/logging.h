// Logging setup for the lunfs command: spdlog to stderr in the foreground, to a file or syslog
// once the daemon is in the background. Where there is no syslog (no /dev/log, as in most
// containers) a background daemon logs to a file of its own instead, never to nothing.
#pragma once

#include <string>

#include "core/status.h"

namespace lunfs {

// Checks a --log-level value (trace, debug, info, warn, error, critical, off).
Status ValidateLogLevel(const std::string& level);

// True when a syslog daemon listens on /dev/log.
bool SyslogAvailable();

// The file a daemon for `mountpoint` logs to when there is no syslog:
// /var/log/lunfs/<mountpoint, '/' as '-'>.log for root, else under $XDG_STATE_HOME/lunfs (or
// ~/.local/state/lunfs), else /tmp/lunfs-<uid>/; the directory is created. Fails when none can
// be written.
Result<std::string> FallbackLogFile(const std::string& mountpoint);

// Where a mount's daemon logs: `file` when given, "" (stderr or syslog) in the foreground or
// when syslog is there, else FallbackLogFile, which it says on stderr.
Result<std::string> ChooseLogFile(bool foreground, const std::string& file,
                                  const std::string& mountpoint);

// Sends the default logger to stderr (foreground), `file` (when not empty) or syslog.
void SetUpLogging(const std::string& level, bool foreground, const std::string& file);

// Where the logs go, as set by SetUpLogging: "stderr", "syslog" or the file's path.
std::string LogDestination();

}  // namespace lunfs
