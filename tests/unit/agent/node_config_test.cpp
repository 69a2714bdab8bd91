// `pgswarm node` settings: the seed image's environment, secrets from files,
// precise errors that name the origin, slot names derived from node names.
#include "agent/node_config.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace pgswarm::agent {
namespace {

class SecretFile {
 public:
  explicit SecretFile(const std::string& content)
      : path_(std::filesystem::temp_directory_path() /
              ("pgswarm-agent-secret-" + std::to_string(::getpid()) + "-" +
               std::to_string(counter_++))) {
    std::ofstream(path_) << content;
  }
  ~SecretFile() { std::filesystem::remove(path_); }
  [[nodiscard]] std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

Result<NodeConfig> resolve(const EnvironmentMap& env,
                           const std::map<std::string, std::string>& flags = {},
                           const toml::table* file = nullptr) {
  auto settings = Settings::resolve(nodeSettingDefs(), file, env, flags);
  if (!settings) return settings.error();
  return nodeConfigFromSettings(*settings);
}

const EnvironmentMap kPassword{{"PG_PASSWORD", "secret"}};

EnvironmentMap with(EnvironmentMap base, const EnvironmentMap& more) {
  for (const auto& [name, value] : more) base[name] = value;
  return base;
}

TEST(NodeConfig, DefaultsGiveAPrimaryOnTheStandardPorts) {
  auto config = resolve(kPassword, {{"node.name", "db1"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->mode, NodeMode::kPrimary);
  EXPECT_EQ(config->port, 5432);
  EXPECT_EQ(config->apiPort, 8008);
  EXPECT_EQ(config->apiListen, "0.0.0.0");
  EXPECT_EQ(config->listenAddresses, "*");
  EXPECT_EQ(config->dataDir, "/var/lib/postgresql/data");
  EXPECT_EQ(config->stateDir, "/var/lib/postgresql");
  EXPECT_EQ(config->replicationUser, "replicator");
  EXPECT_EQ(config->replicationSslmode, "prefer");
  EXPECT_EQ(config->runAs, "postgres");
  EXPECT_EQ(config->slot, "db1");
  EXPECT_EQ(config->primaryWait, std::chrono::seconds(60));
  EXPECT_EQ(config->maxRestarts, 5);
  EXPECT_EQ(config->restartWindow, std::chrono::seconds(60));
  EXPECT_EQ(config->lockPath(), "/var/lib/postgresql/pgswarm-agent.lock");
  EXPECT_EQ(config->passfilePath(), "/var/lib/postgresql/pgswarm-db1.pgpass");
  EXPECT_TRUE(config->peers.empty());
  EXPECT_EQ(config->fenceTimeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(config->unfenceAfter, std::chrono::milliseconds(30000));
  EXPECT_FALSE(config->fencingEnabled());
  EXPECT_EQ(config->fenceStatePath(), "/var/lib/postgresql/pgswarm-db1.fence.json");
}

TEST(NodeConfig, PeersAndFenceTimeout) {
  auto config = resolve(kPassword, {{"node.name", "db1"},
                                    {"node.peers", "db2:5432,db3:5432"},
                                    {"node.fence_timeout_ms", "1000"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_EQ(config->peers.size(), 2u);
  EXPECT_EQ(config->peers[1], (Peer{"db3", 5432}));
  EXPECT_EQ(config->fenceTimeout, std::chrono::milliseconds(1000));
  EXPECT_TRUE(config->fencingEnabled());
  auto off = resolve(kPassword, {{"node.peers", "db2:5432"}, {"node.fence_timeout_ms", "0"}});
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(off->fencingEnabled());
  auto bad = resolve(kPassword, {{"node.peers", "db2"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "--peers: 'db2' has no port (host:port)");
  auto negative = resolve(kPassword, {{"node.fence_timeout_ms", "-1"}});
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.error().message.find("--fence-timeout-ms"), std::string::npos);
  auto atOnce = resolve(kPassword, {{"node.unfence_after_ms", "0"}});
  ASSERT_TRUE(atOnce.ok()) << atOnce.error().message;
  EXPECT_EQ(atOnce->unfenceAfter, std::chrono::milliseconds(0));
  auto unfenceBad = resolve(kPassword, {{"node.unfence_after_ms", "soon"}});
  ASSERT_FALSE(unfenceBad.ok());
  EXPECT_NE(unfenceBad.error().message.find("--unfence-after-ms"), std::string::npos);
}

TEST(NodeConfig, NameDefaultsToTheHostName) {
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  auto config = resolve(kPassword);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->name, host);
}

TEST(NodeConfig, SeedEnvironmentGivesAReplica) {
  auto config = resolve(with(kPassword, {{"REPLICATION_MODE", "slave"},
                                         {"REPLICATION_HOST", "db-master"},
                                         {"REPLICATION_PORT", "6543"},
                                         {"REPLICATION_USER", "repl"},
                                         {"REPLICATION_PASS", "rpass"},
                                         {"PGDATA", "/data/pg"},
                                         {"PGPORT", "5433"}}),
                        {{"node.name", "Replica-2"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->mode, NodeMode::kReplica);
  EXPECT_EQ(config->primaryHost, "db-master");
  EXPECT_EQ(config->primaryPort, 6543);
  EXPECT_EQ(config->replicationUser, "repl");
  EXPECT_EQ(config->replicationPassword, "rpass");
  EXPECT_EQ(config->dataDir, "/data/pg");
  EXPECT_EQ(config->stateDir, "/data");
  EXPECT_EQ(config->port, 5433);
  EXPECT_EQ(config->slot, "replica_2");
}

TEST(NodeConfig, MasterMeansPrimary) {
  auto config = resolve(with(kPassword, {{"REPLICATION_MODE", "MASTER"}}));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->mode, NodeMode::kPrimary);
}

TEST(NodeConfig, SecretsComeFromFileVariants) {
  SecretFile password("from-file\n");
  SecretFile replication("repl-from-file\n");
  auto config = resolve({{"PG_PASSWORD_FILE", password.path()},
                         {"REPLICATION_MODE", "replica"},
                         {"REPLICATION_HOST", "db0"},
                         {"REPLICATION_PASS_FILE", replication.path()}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->password, "from-file");
  EXPECT_EQ(config->replicationPassword, "repl-from-file");

  auto viaFlag = resolve({{"REPLICATION_MODE", "replica"}, {"REPLICATION_HOST", "db0"}},
                         {{"node.password_file", password.path()},
                          {"node.replication_password_file", replication.path()}});
  ASSERT_TRUE(viaFlag.ok()) << viaFlag.error().message;
  EXPECT_EQ(viaFlag->password, "from-file");
  EXPECT_EQ(viaFlag->replicationPassword, "repl-from-file");
}

TEST(NodeConfig, ApiTokenComesTrimmedFromItsFile) {
  SecretFile token("  tok3n \n\n");
  auto config = resolve(kPassword, {{"node.api_token_file", token.path()}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->apiToken, "tok3n");
  auto none = resolve(kPassword);
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_EQ(none->apiToken, "");
  SecretFile twoWords("one two\n");
  EXPECT_FALSE(resolve(kPassword, {{"node.api_token_file", twoWords.path()}}).ok());
}

TEST(NodeConfig, MissingSecretFileIsNamed) {
  auto config = resolve({{"PG_PASSWORD_FILE", "/nonexistent/pw"}});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("PG_PASSWORD_FILE"), std::string::npos)
      << config.error().message;
}

TEST(NodeConfig, TomlSectionNodeIsRead) {
  auto file = toml::parse(
      "[node]\nname = 'n7'\nport = 6000\nmode = 'replica'\n"
      "primary_host = 'p'\nreplication_password = 'r'\npassword = 'x'\n");
  auto config = resolve({}, {}, &file);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->name, "n7");
  EXPECT_EQ(config->port, 6000);
  EXPECT_EQ(config->mode, NodeMode::kReplica);
}

TEST(NodeConfig, BadModeNamesItsOrigin) {
  auto config = resolve(with(kPassword, {{"REPLICATION_MODE", "foo"}}));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message,
            "REPLICATION_MODE: 'foo' is not one of primary, master, replica, slave");
}

TEST(NodeConfig, BadPortsNameTheirOrigin) {
  auto word = resolve(with(kPassword, {{"PGPORT", "abc"}}));
  ASSERT_FALSE(word.ok());
  EXPECT_EQ(word.error().message, "PGPORT: 'abc' is not a whole number");
  auto range = resolve(kPassword, {{"node.api_port", "70000"}});
  ASSERT_FALSE(range.ok());
  EXPECT_EQ(range.error().message, "--api-port: 70000 is out of range (1..65535)");
}

TEST(NodeConfig, ReplicaWithoutPrimaryHostIsRefused) {
  auto config =
      resolve(with(kPassword, {{"REPLICATION_MODE", "slave"}, {"REPLICATION_PASS", "r"}}));
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("REPLICATION_MODE is 'slave' but no primary host"),
            std::string::npos)
      << config.error().message;
}

TEST(NodeConfig, ReplicaWithoutReplicationPasswordIsRefused) {
  auto config =
      resolve(with(kPassword, {{"REPLICATION_MODE", "replica"}, {"REPLICATION_HOST", "db0"}}));
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("no replication password"), std::string::npos)
      << config.error().message;
}

TEST(NodeConfig, SuperuserPasswordIsRequired) {
  auto config = resolve({});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("password of the superuser postgres is required"),
            std::string::npos);
}

TEST(NodeConfig, PasswordsWithLineBreaksAreRefused) {
  auto config = resolve({{"PG_PASSWORD", "two\nlines"}});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("PG_PASSWORD"), std::string::npos);
}

TEST(NodeConfig, BadNamesSlotsAndSslmodesAreRefused) {
  EXPECT_FALSE(resolve(kPassword, {{"node.name", "a/b"}}).ok());
  auto slot = resolve(kPassword, {{"node.slot", "Bad-Slot"}});
  ASSERT_FALSE(slot.ok());
  EXPECT_NE(slot.error().message.find("--slot: 'Bad-Slot' is not a valid replication slot name"),
            std::string::npos);
  auto sslmode = resolve(with(kPassword, {{"REPLICATION_SSLMODE", "maybe"}}));
  ASSERT_FALSE(sslmode.ok());
  EXPECT_NE(sslmode.error().message.find("REPLICATION_SSLMODE: 'maybe'"), std::string::npos);
}

TEST(NodeConfig, ExplicitSlotWins) {
  auto config = resolve(kPassword, {{"node.name", "db1"}, {"node.slot", "my_slot"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->slot, "my_slot");
}

TEST(NodeConfig, RelativeDataDirBecomesAbsolute) {
  auto config = resolve(kPassword, {{"node.data_dir", "some/where/data/"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->dataDir, (std::filesystem::current_path() / "some/where/data").string());
  EXPECT_FALSE(resolve(kPassword, {{"node.data_dir", "/"}}).ok());
}

TEST(SlotName, DerivedFromTheNodeName) {
  EXPECT_EQ(slotNameFor("db1"), "db1");
  EXPECT_EQ(slotNameFor("Node-1.example.com"), "node_1_example_com");
  EXPECT_EQ(slotNameFor("a_b"), "a_b");
  EXPECT_EQ(slotNameFor(std::string(80, 'x')).size(), 63U);
}

TEST(PgBin, ExplicitFolderWithoutBinariesIsRefused) {
  NodeConfig config;
  config.pgBin = "/nonexistent";
  auto located = locatePgBin(config);
  ASSERT_FALSE(located.ok());
  EXPECT_NE(located.error().message.find("/nonexistent"), std::string::npos);
}

// The state folder of a node whose data folder is <folder>/data.
class StateFolder {
 public:
  StateFolder()
      : path_(std::filesystem::temp_directory_path() /
              ("pgswarm-node-name-" + std::to_string(::getpid()) + "-" +
               std::to_string(counter_++))) {
    std::filesystem::create_directories(path_);
  }
  ~StateFolder() { std::filesystem::remove_all(path_); }
  [[nodiscard]] std::string dataDir() const { return (path_ / "data").string(); }
  [[nodiscard]] std::string record() const { return (path_ / "pgswarm-node-name").string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

NodeConfig configIn(const StateFolder& folder, const std::map<std::string, std::string>& flags) {
  auto all = flags;
  all["node.data_dir"] = folder.dataDir();
  auto config = resolve(kPassword, all);
  EXPECT_TRUE(config.ok()) << (config.ok() ? "" : config.error().message);
  return config.ok() ? *config : NodeConfig{};
}

// A Swarm task gets a new hostname (its container ID) each time it is
// replaced; the name the node first ran under must survive that.
TEST(KeepDefaultName, TheFirstDefaultNameIsRecordedAndKept) {
  StateFolder folder;
  auto first = configIn(folder, {});
  ASSERT_TRUE(keepDefaultName(first, false).ok());
  std::ifstream in(folder.record());
  std::string recorded;
  std::getline(in, recorded);
  EXPECT_EQ(recorded, first.name);

  std::ofstream(folder.record()) << "c0ffee123456\n";  // the first container's hostname
  auto later = configIn(folder, {});
  ASSERT_TRUE(keepDefaultName(later, false).ok());
  EXPECT_EQ(later.name, "c0ffee123456");
  EXPECT_EQ(later.slot, "c0ffee123456");
}

TEST(KeepDefaultName, AGivenNameOrSlotWins) {
  StateFolder folder;
  std::ofstream(folder.record()) << "old-name\n";
  auto named = configIn(folder, {{"node.name", "db-pi1"}});
  ASSERT_TRUE(keepDefaultName(named, true).ok());
  EXPECT_EQ(named.name, "db-pi1");
  auto slotted = configIn(folder, {{"node.slot", "my_slot"}});
  ASSERT_TRUE(keepDefaultName(slotted, false).ok());
  EXPECT_EQ(slotted.name, "old-name");
  EXPECT_EQ(slotted.slot, "my_slot");
}

TEST(KeepDefaultName, ABadRecordIsAnErrorAndNoFolderNoRecord) {
  StateFolder folder;
  std::ofstream(folder.record()) << "bad name;\n";
  auto config = configIn(folder, {});
  auto kept = keepDefaultName(config, false);
  ASSERT_FALSE(kept.ok());
  EXPECT_NE(kept.error().message.find("does not hold a valid node name"), std::string::npos);

  auto missing = configIn(folder, {});
  missing.stateDir = folder.dataDir() + "/not/there";
  EXPECT_TRUE(keepDefaultName(missing, false).ok());
  EXPECT_FALSE(std::filesystem::exists(missing.stateDir));
}

}  // namespace
}  // namespace pgswarm::agent
