// Logging setup shared by every subcommand.
#include "common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace pgswarm {

Status setupLogging(std::string_view level, std::string_view component) {
  auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return makeError("unknown log level '{}' (use trace, debug, info, warn, error or off)", level);
  }
  spdlog::drop(std::string(component));
  auto logger = spdlog::stderr_color_mt(std::string(component));
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  return Ok{};
}

}  // namespace pgswarm
