// SettingDef -> CLI11 flags: see setting_flags.hpp.
#include "cli/setting_flags.hpp"

namespace pgswarm::cli {

void addSettingFlags(CLI::App* command, std::span<const SettingDef> defs, SettingFlags& flags) {
  for (const auto& def : defs) {
    if (def.flag.empty()) continue;
    std::string help = def.help;
    if (!def.defaultValue.empty()) help += " [default: " + def.defaultValue + "]";
    help += " (env " + environmentName(def.key);
    for (const auto& alias : def.env) help += ", " + alias;
    help += ")";
    auto key = def.key;
    command->add_option_function<std::string>(
        "--" + def.flag, [&flags, key](const std::string& value) { flags.given[key] = value; },
        help);
    if (def.secret) {
      command->add_option_function<std::string>(
          "--" + def.flag + "-file",
          [&flags, key](const std::string& value) { flags.given[key + "_file"] = value; },
          "read " + def.flag + " from this file");
    }
  }
}

void addConfigFlag(CLI::App* command, SettingFlags& flags) {
  command->add_option("--config", flags.configFile, "TOML configuration file");
}

Result<Settings> resolveSettings(std::span<const SettingDef> defs, const SettingFlags& flags) {
  std::optional<toml::table> file;
  if (!flags.configFile.empty()) {
    auto loaded = loadTomlFile(flags.configFile);
    if (!loaded) return loaded.error();
    file = std::move(*loaded);
  }
  return Settings::resolve(defs, file ? &*file : nullptr, processEnvironment(), flags.given);
}

}  // namespace pgswarm::cli
