// Settings resolution: defaults, then the TOML file, then the environment,
// then flags; secrets may come from files at every layer.
#include "common/settings.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace pgswarm {
namespace {

std::string tomlScalarText(const toml::node& node) {
  if (auto s = node.value<std::string>()) return *s;
  if (node.is_boolean()) return *node.value<bool>() ? "true" : "false";
  if (node.is_integer()) return std::to_string(*node.value<int64_t>());
  if (node.is_floating_point()) {
    std::ostringstream out;
    out << *node.value<double>();
    return out.str();
  }
  return {};
}

const toml::node* tomlLookup(const toml::table& table, const std::string& key) {
  return table.at_path(key).node();
}

std::string prefixOf(const std::string& key) {
  auto dot = key.rfind('.');
  return dot == std::string::npos ? std::string() : key.substr(0, dot);
}

// Every leaf key under a section some def uses must be declared.
Status rejectUnknownFileKeys(std::span<const SettingDef> defs, const toml::table& file) {
  std::set<std::string> known;
  std::set<std::string> sections;
  for (const auto& def : defs) {
    known.insert(def.key);
    if (def.secret) known.insert(def.key + "_file");
    sections.insert(prefixOf(def.key));
  }
  for (const auto& section : sections) {
    const toml::table* scope = section.empty() ? &file : file.at_path(section).as_table();
    if (scope == nullptr) continue;
    for (const auto& [name, node] : *scope) {
      std::string key =
          section.empty() ? std::string(name.str()) : section + "." + std::string(name.str());
      if (node.is_table() && sections.count(key) != 0) continue;
      if (known.count(key) == 0) return makeError("unknown setting '{}' in config file", key);
    }
  }
  return Ok{};
}

struct Candidate {
  std::string text;
  std::string origin;
};

void makeInline(toml::table& table) {
  table.is_inline(true);
  for (auto&& [name, node] : table) {
    if (auto* inner = node.as_table()) makeInline(*inner);
  }
}

// A table as one line of inline TOML, nested tables inline too.
std::string inlineTableText(const toml::table& table) {
  toml::table copy = table;
  makeInline(copy);
  std::ostringstream out;
  out << toml::toml_formatter(copy, toml::format_flags::none);
  return out.str();
}

Result<std::optional<Candidate>> fromFile(const SettingDef& def, const toml::table* file) {
  if (file == nullptr) return std::optional<Candidate>{};
  if (const auto* node = tomlLookup(*file, def.key)) {
    if (def.table && node->is_table()) {
      return std::optional<Candidate>{
          Candidate{inlineTableText(*node->as_table()), "config key " + def.key}};
    }
    if (!node->is_value()) return makeError("setting '{}' in config file must be a value", def.key);
    return std::optional<Candidate>{Candidate{tomlScalarText(*node), "config key " + def.key}};
  }
  if (!def.secret) return std::optional<Candidate>{};
  if (const auto* node = tomlLookup(*file, def.key + "_file")) {
    auto path = tomlScalarText(*node);
    auto secret = readSecretFile(path);
    if (!secret) return secret.error();
    return std::optional<Candidate>{Candidate{*secret, "config key " + def.key + "_file"}};
  }
  return std::optional<Candidate>{};
}

Result<std::optional<Candidate>> fromEnvironment(const SettingDef& def, const EnvironmentMap& env) {
  std::vector<std::string> names{environmentName(def.key)};
  names.insert(names.end(), def.env.begin(), def.env.end());
  for (const auto& name : names) {
    if (auto it = env.find(name); it != env.end()) {
      return std::optional<Candidate>{Candidate{it->second, name}};
    }
    if (!def.secret) continue;
    if (auto it = env.find(name + "_FILE"); it != env.end()) {
      auto secret = readSecretFile(it->second);
      if (!secret) return Error{name + "_FILE: " + secret.error().message};
      return std::optional<Candidate>{Candidate{*secret, name + "_FILE"}};
    }
  }
  return std::optional<Candidate>{};
}

Result<std::optional<Candidate>> fromFlags(const SettingDef& def,
                                           const std::map<std::string, std::string>& flags) {
  if (auto it = flags.find(def.key); it != flags.end()) {
    return std::optional<Candidate>{Candidate{it->second, "--" + def.flag}};
  }
  if (!def.secret) return std::optional<Candidate>{};
  if (auto it = flags.find(def.key + "_file"); it != flags.end()) {
    auto secret = readSecretFile(it->second);
    if (!secret) return Error{"--" + def.flag + "-file: " + secret.error().message};
    return std::optional<Candidate>{Candidate{*secret, "--" + def.flag + "-file"}};
  }
  return std::optional<Candidate>{};
}

}  // namespace

const char* toString(SettingSource source) {
  switch (source) {
    case SettingSource::kDefault:
      return "default";
    case SettingSource::kFile:
      return "file";
    case SettingSource::kEnvironment:
      return "environment";
    case SettingSource::kFlag:
      return "flag";
  }
  return "?";
}

std::string environmentName(const std::string& key) {
  std::string name = "PGSWARM_";
  for (char c : key) {
    name += (c == '.' || c == '-') ? '_'
                                   : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

EnvironmentMap processEnvironment() {
  EnvironmentMap env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    auto eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

Result<Settings> Settings::resolve(std::span<const SettingDef> defs, const toml::table* file,
                                   const EnvironmentMap& env,
                                   const std::map<std::string, std::string>& flags) {
  if (file != nullptr) {
    if (auto status = rejectUnknownFileKeys(defs, *file); !status) return status.error();
  }
  Settings settings;
  for (const auto& def : defs) {
    std::optional<Value> chosen;
    if (!def.defaultValue.empty())
      chosen = Value{def.defaultValue, SettingSource::kDefault, "default"};
    auto file_value = fromFile(def, file);
    if (!file_value) return file_value.error();
    if (*file_value)
      chosen = Value{(*file_value)->text, SettingSource::kFile, (*file_value)->origin};
    auto env_value = fromEnvironment(def, env);
    if (!env_value) return env_value.error();
    if (*env_value)
      chosen = Value{(*env_value)->text, SettingSource::kEnvironment, (*env_value)->origin};
    auto flag_value = fromFlags(def, flags);
    if (!flag_value) return flag_value.error();
    if (*flag_value)
      chosen = Value{(*flag_value)->text, SettingSource::kFlag, (*flag_value)->origin};
    if (chosen) settings.values_.emplace(def.key, std::move(*chosen));
  }
  return settings;
}

bool Settings::has(const std::string& key) const {
  return values_.count(key) != 0;
}

std::string Settings::text(const std::string& key) const {
  auto it = values_.find(key);
  return it == values_.end() ? std::string() : it->second.text;
}

Result<long> Settings::integer(const std::string& key, long min, long max) const {
  auto raw = text(key);
  if (raw.empty()) return makeError("{} is required", origin(key));
  std::size_t used = 0;
  long value = 0;
  try {
    value = std::stol(raw, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != raw.size()) return makeError("{}: '{}' is not a whole number", origin(key), raw);
  if (value < min || value > max) {
    return makeError("{}: {} is out of range ({}..{})", origin(key), value, min, max);
  }
  return value;
}

Result<bool> Settings::boolean(const std::string& key) const {
  std::string raw = text(key);
  std::transform(raw.begin(), raw.end(), raw.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (raw == "true" || raw == "on" || raw == "yes" || raw == "1") return true;
  if (raw == "false" || raw == "off" || raw == "no" || raw == "0" || raw.empty()) return false;
  return makeError("{}: '{}' is not a boolean (on/off, true/false)", origin(key), raw);
}

std::optional<SettingSource> Settings::source(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second.source;
}

std::string Settings::origin(const std::string& key) const {
  auto it = values_.find(key);
  return it == values_.end() ? key : it->second.origin;
}

Result<toml::table> loadTomlFile(const std::string& path) {
  // toml++ is built with exceptions by Debian; config loading is not the data
  // plane, so the parse error is caught here and turned into a Result.
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& err) {
    return makeError("{}:{}:{}: {}", path, err.source().begin.line, err.source().begin.column,
                     err.description());
  }
}

Result<std::string> readSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError("cannot read secret file '{}'", path);
  std::ostringstream content;
  content << in.rdbuf();
  std::string text = content.str();
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

}  // namespace pgswarm
