// Turns SettingDefs into CLI11 flags so every command declares a setting
// once (key, flag, environment) and resolves it through common/settings.
#pragma once

#include <map>
#include <span>
#include <string>

#include <CLI/CLI.hpp>

#include "common/settings.hpp"

namespace pgswarm::cli {

struct SettingFlags {
  std::map<std::string, std::string> given;  // key (or key_file) -> value, flags the user gave
  std::string configFile;                    // --config, when the command takes one
};

// Adds --<flag> for every def with a flag (and --<flag>-file for secrets).
void addSettingFlags(CLI::App* command, std::span<const SettingDef> defs, SettingFlags& flags);
// Adds --config FILE.
void addConfigFlag(CLI::App* command, SettingFlags& flags);

// Loads --config (if any) and resolves defaults < file < environment < flags.
[[nodiscard]] Result<Settings> resolveSettings(std::span<const SettingDef> defs,
                                               const SettingFlags& flags);

}  // namespace pgswarm::cli
