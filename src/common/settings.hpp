// Layered settings: defaults < TOML file < environment < command-line flags.
// Each setting is declared once (SettingDef) with its TOML key, environment
// names and flag; every command resolves its settings through this one path,
// so precedence and the *_FILE secret rule are the same everywhere.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "common/result.hpp"

namespace pgswarm {

struct SettingDef {
  std::string key;               // dotted TOML path, e.g. "node.port"
  std::string flag;              // long flag without dashes; empty: no flag
  std::vector<std::string> env;  // extra environment names (the seed's), tried in order
  std::string defaultValue;      // empty: unset unless given
  std::string help;
  // A secret is never wanted in argv or plain environment: it also accepts
  // <ENV>_FILE, "<key>_file" in TOML and --<flag>-file, each naming a file.
  bool secret = false;
  // The value may be a TOML table in the file (e.g. [pool.databases.app]):
  // it is kept as the text of an inline table, the same text the
  // environment variable and the flag take ("{ app = { pool_size = 2 } }").
  bool table = false;
};

enum class SettingSource { kDefault, kFile, kEnvironment, kFlag };
[[nodiscard]] const char* toString(SettingSource source);

// The automatic environment name of a key: "node.data_dir" -> PGSWARM_NODE_DATA_DIR.
[[nodiscard]] std::string environmentName(const std::string& key);

using EnvironmentMap = std::map<std::string, std::string>;
[[nodiscard]] EnvironmentMap processEnvironment();

class Settings {
 public:
  // flags: key -> value for the flags the user gave ("<key>_file" for --x-file).
  // file: the parsed TOML file, or nullptr. Keys of the file under a prefix
  // that some def uses but that no def names are rejected (typos).
  [[nodiscard]] static Result<Settings> resolve(std::span<const SettingDef> defs,
                                                const toml::table* file, const EnvironmentMap& env,
                                                const std::map<std::string, std::string>& flags);

  [[nodiscard]] bool has(const std::string& key) const;
  // The value, or "" when unset.
  [[nodiscard]] std::string text(const std::string& key) const;
  [[nodiscard]] Result<long> integer(const std::string& key, long min, long max) const;
  [[nodiscard]] Result<bool> boolean(const std::string& key) const;
  [[nodiscard]] std::optional<SettingSource> source(const std::string& key) const;
  // Where a value came from, for error messages: "flag --port", "PGPORT", ...
  [[nodiscard]] std::string origin(const std::string& key) const;

 private:
  struct Value {
    std::string text;
    SettingSource source;
    std::string origin;
  };
  std::map<std::string, Value> values_;
};

[[nodiscard]] Result<toml::table> loadTomlFile(const std::string& path);
// Reads a secret file: whole content with one trailing newline removed.
[[nodiscard]] Result<std::string> readSecretFile(const std::string& path);

}  // namespace pgswarm
