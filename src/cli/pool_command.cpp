// `pgswarm pool`: the pooling proxy, in the foreground.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/setting_flags.hpp"
#include "common/log.hpp"
#include "proxy/pool_config.hpp"
#include "proxy/pool_server.hpp"

namespace pgswarm::cli {

CommandRunner registerPoolCommand(CLI::App& app) {
  auto flags = std::make_shared<SettingFlags>();
  auto* command = app.add_subcommand("pool", "run the pooling proxy in the foreground");
  addConfigFlag(command, *flags);
  addSettingFlags(command, proxy::poolSettingDefs(), *flags);
  return [flags] {
    auto settings = resolveSettings(proxy::poolSettingDefs(), *flags);
    if (!settings) {
      std::cerr << "pgswarm pool: " << settings.error().message << "\n";
      return 2;
    }
    auto config = proxy::poolConfigFromSettings(*settings);
    if (!config) {
      std::cerr << "pgswarm pool: " << config.error().message << "\n";
      return 2;
    }
    if (auto logging = setupLogging(config->logLevel, "pool"); !logging) {
      std::cerr << "pgswarm pool: " << logging.error().message << "\n";
      return 2;
    }
    // RELOAD / SIGHUP resolve file, environment and flags again, the same way.
    auto reread = [flags]() -> Result<proxy::PoolConfig> {
      auto fresh = resolveSettings(proxy::poolSettingDefs(), *flags);
      if (!fresh) return fresh.error();
      return proxy::poolConfigFromSettings(*fresh);
    };
    return proxy::runPool(*config, reread);
  };
}

}  // namespace pgswarm::cli
