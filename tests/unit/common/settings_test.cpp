// Settings precedence: default < file < environment < flag, secrets from files.
#include "common/settings.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace pgswarm {
namespace {

const std::vector<SettingDef> kDefs = {
    {.key = "node.port", .flag = "port", .env = {"PGPORT"}, .defaultValue = "5432"},
    {.key = "node.mode", .flag = "mode", .env = {"REPLICATION_MODE"}, .defaultValue = "primary"},
    {.key = "node.password", .flag = "password", .env = {"PG_PASSWORD"}, .secret = true},
};

toml::table parse(std::string_view text) {
  return toml::parse(text);
}

class SecretFile {
 public:
  explicit SecretFile(const std::string& content)
      : path_(std::filesystem::temp_directory_path() /
              ("pgswarm-secret-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++))) {
    std::ofstream(path_) << content;
  }
  ~SecretFile() { std::filesystem::remove(path_); }
  [[nodiscard]] std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(Settings, DefaultsApplyWhenNothingElseIsGiven) {
  auto settings = Settings::resolve(kDefs, nullptr, {}, {});
  ASSERT_TRUE(settings.ok()) << settings.error().message;
  EXPECT_EQ(settings->text("node.port"), "5432");
  EXPECT_EQ(settings->source("node.port"), SettingSource::kDefault);
  EXPECT_FALSE(settings->has("node.password"));
}

TEST(Settings, FileOverridesDefaultEnvironmentOverridesFileFlagOverridesAll) {
  auto file = parse("[node]\nport = 6000\nmode = 'replica'\n");
  auto only_file = Settings::resolve(kDefs, &file, {}, {});
  ASSERT_TRUE(only_file.ok());
  EXPECT_EQ(only_file->text("node.port"), "6000");
  EXPECT_EQ(only_file->source("node.port"), SettingSource::kFile);

  EnvironmentMap env{{"PGSWARM_NODE_PORT", "7000"}};
  auto with_env = Settings::resolve(kDefs, &file, env, {});
  ASSERT_TRUE(with_env.ok());
  EXPECT_EQ(with_env->text("node.port"), "7000");
  EXPECT_EQ(with_env->origin("node.port"), "PGSWARM_NODE_PORT");

  auto with_flag = Settings::resolve(kDefs, &file, env, {{"node.port", "8000"}});
  ASSERT_TRUE(with_flag.ok());
  EXPECT_EQ(with_flag->text("node.port"), "8000");
  EXPECT_EQ(with_flag->source("node.port"), SettingSource::kFlag);
  EXPECT_EQ(with_flag->text("node.mode"), "replica");
}

TEST(Settings, OwnEnvironmentNameWinsOverSeedAlias) {
  EnvironmentMap env{{"PGPORT", "1111"}, {"PGSWARM_NODE_PORT", "2222"}};
  auto settings = Settings::resolve(kDefs, nullptr, env, {});
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ(settings->text("node.port"), "2222");
  auto alias_only = Settings::resolve(kDefs, nullptr, {{"REPLICATION_MODE", "slave"}}, {});
  ASSERT_TRUE(alias_only.ok());
  EXPECT_EQ(alias_only->text("node.mode"), "slave");
}

TEST(Settings, SecretsComeFromFilesAtEveryLayer) {
  SecretFile from_env("env-secret\n");
  SecretFile from_flag("flag-secret");
  SecretFile from_toml("toml-secret\n");
  auto file = parse("[node]\npassword_file = '" + from_toml.path() + "'\n");

  auto toml_only = Settings::resolve(kDefs, &file, {}, {});
  ASSERT_TRUE(toml_only.ok()) << toml_only.error().message;
  EXPECT_EQ(toml_only->text("node.password"), "toml-secret");

  EnvironmentMap env{{"PG_PASSWORD_FILE", from_env.path()}};
  auto env_secret = Settings::resolve(kDefs, &file, env, {});
  ASSERT_TRUE(env_secret.ok());
  EXPECT_EQ(env_secret->text("node.password"), "env-secret");

  auto flag_secret =
      Settings::resolve(kDefs, &file, env, {{"node.password_file", from_flag.path()}});
  ASSERT_TRUE(flag_secret.ok());
  EXPECT_EQ(flag_secret->text("node.password"), "flag-secret");
}

TEST(Settings, MissingSecretFileIsAPreciseError) {
  EnvironmentMap env{{"PG_PASSWORD_FILE", "/nonexistent/pgswarm/secret"}};
  auto settings = Settings::resolve(kDefs, nullptr, env, {});
  ASSERT_FALSE(settings.ok());
  EXPECT_NE(settings.error().message.find("PG_PASSWORD_FILE"), std::string::npos);
  EXPECT_NE(settings.error().message.find("/nonexistent/pgswarm/secret"), std::string::npos);
}

TEST(Settings, UnknownKeyInAKnownSectionIsRejected) {
  auto file = parse("[node]\nprot = 5432\n");
  auto settings = Settings::resolve(kDefs, &file, {}, {});
  ASSERT_FALSE(settings.ok());
  EXPECT_NE(settings.error().message.find("node.prot"), std::string::npos);
}

TEST(Settings, OtherSectionsAreLeftToTheirCommands) {
  auto file = parse("[pool]\nlisten_port = 6432\n[node]\nport = 1\n");
  EXPECT_TRUE(Settings::resolve(kDefs, &file, {}, {}).ok());
}

TEST(Settings, IntegerValidationNamesTheOrigin) {
  auto settings = Settings::resolve(kDefs, nullptr, {{"PGPORT", "54x"}}, {});
  ASSERT_TRUE(settings.ok());
  auto port = settings->integer("node.port", 1, 65535);
  ASSERT_FALSE(port.ok());
  EXPECT_NE(port.error().message.find("PGPORT"), std::string::npos);
  auto range = Settings::resolve(kDefs, nullptr, {{"PGPORT", "70000"}}, {});
  ASSERT_TRUE(range.ok());
  EXPECT_FALSE(range->integer("node.port", 1, 65535).ok());
}

TEST(Settings, BooleanAcceptsPostgresSpellings) {
  const std::vector<SettingDef> defs = {{.key = "x.on", .defaultValue = "on"},
                                        {.key = "x.bad", .defaultValue = "maybe"}};
  auto settings = Settings::resolve(defs, nullptr, {}, {});
  ASSERT_TRUE(settings.ok());
  EXPECT_TRUE(*settings->boolean("x.on"));
  EXPECT_FALSE(settings->boolean("x.bad").ok());
}

TEST(Settings, EnvironmentNameIsDerivedFromTheKey) {
  EXPECT_EQ(environmentName("node.data_dir"), "PGSWARM_NODE_DATA_DIR");
  EXPECT_EQ(environmentName("pool.listen-port"), "PGSWARM_POOL_LISTEN_PORT");
}

}  // namespace
}  // namespace pgswarm

namespace pgswarm {
namespace {

// A table setting ([pool.databases.<name>]) arrives as the text of an
// inline table, the form the environment takes; other settings still must
// be plain values.
TEST(Settings, ATableSettingBecomesInlineTableText) {
  const std::vector<SettingDef> defs = {
      {.key = "pool.databases", .flag = "databases", .table = true},
      {.key = "pool.port", .flag = "port"},
  };
  auto file = parse(
      "[pool]\nport = 1\n[pool.databases.app]\npool_size = 2\n[pool.databases.\"my db\"]\n"
      "max_db_connections = 3\n");
  auto settings = Settings::resolve(defs, &file, {}, {});
  ASSERT_TRUE(settings.ok()) << settings.error().message;
  EXPECT_EQ(settings->text("pool.databases"),
            R"({ app = { pool_size = 2 }, "my db" = { max_db_connections = 3 } })");
  EXPECT_EQ(settings->origin("pool.databases"), "config key pool.databases");
  auto fromEnvironment = Settings::resolve(
      defs, &file, {{"PGSWARM_POOL_DATABASES", "{ app = { pool_size = 9 } }"}}, {});
  ASSERT_TRUE(fromEnvironment.ok());
  EXPECT_EQ(fromEnvironment->text("pool.databases"), "{ app = { pool_size = 9 } }");

  auto nested = parse("[pool.port]\nx = 1\n");
  auto refused = Settings::resolve(defs, &nested, {}, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "setting 'pool.port' in config file must be a value");
}

}  // namespace
}  // namespace pgswarm
