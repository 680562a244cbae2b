#include "tools/logging.h"

#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include <cerrno>

namespace lunfs {

Status ValidateLogLevel(const std::string& level) {
    if (spdlog::level::from_str(level) == spdlog::level::off && level != "off") {
        return Status::Fail(EINVAL, fmt::format("unknown log level '{}' (use trace, debug, info, "
                                                "warn, error, critical or off)",
                                                level));
    }
    return Status::Ok();
}

void SetUpLogging(const std::string& level, bool foreground, const std::string& file) {
    std::shared_ptr<spdlog::logger> logger;
    if (!file.empty()) {
        logger = spdlog::basic_logger_mt("lunfs", file);
    } else if (foreground) {
        logger = spdlog::stderr_color_mt("lunfs");
    } else {
        logger = spdlog::syslog_logger_mt("lunfs", "lunfs", LOG_PID, LOG_DAEMON);
    }
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace lunfs
