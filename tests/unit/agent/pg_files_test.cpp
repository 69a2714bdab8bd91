// Generated postgres files: pgswarm.conf, pg_hba.conf, passfile, conninfo,
// and the quoting rules each of them needs.
#include "agent/pg_files.hpp"

#include <gtest/gtest.h>

namespace pgswarm::agent {
namespace {

NodeConfig replicaConfig() {
  NodeConfig config;
  config.name = "db2";
  config.dataDir = "/srv/pg/db2/data";
  config.stateDir = "/srv/pg/db2";
  config.listenAddresses = "*";
  config.port = 5433;
  config.mode = NodeMode::kReplica;
  config.primaryHost = "db1";
  config.primaryPort = 5432;
  config.replicationUser = "replicator";
  config.replicationPassword = "r";
  config.replicationSslmode = "prefer";
  config.slot = "db2";
  return config;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(PgFiles, PgswarmConfHasTheReplicationSettings) {
  auto text = pgswarmConf(replicaConfig(), "/srv/pg/db2/data", false);
  for (const char* line :
       {"port = 5433\n", "listen_addresses = '*'\n",
        "unix_socket_directories = '/srv/pg/db2/data'\n", "cluster_name = 'db2'\n",
        "wal_level = replica\n", "hot_standby = on\n", "max_wal_senders = 10\n",
        "max_replication_slots = 10\n", "wal_keep_size = '256MB'\n", "hot_standby_feedback = on\n",
        "wal_log_hints = on\n", "password_encryption = 'scram-sha-256'\n"}) {
    EXPECT_TRUE(contains(text, line)) << line << " missing from\n" << text;
  }
  EXPECT_FALSE(contains(text, "primary_conninfo"));
  EXPECT_FALSE(contains(text, "logging_collector"));
}

TEST(PgFiles, StandbyConfNamesPrimaryPassfileAndSlot) {
  auto text = pgswarmConf(replicaConfig(), "", true);
  EXPECT_TRUE(contains(text, "unix_socket_directories = ''\n"));
  EXPECT_TRUE(contains(text,
                       "primary_conninfo = 'host=''db1'' port=5432 user=''replicator'' "
                       "passfile=''/srv/pg/db2/pgswarm-db2.pgpass'' application_name=''db2'' "
                       "sslmode=''prefer'''\n"))
      << text;
  EXPECT_TRUE(contains(text, "primary_slot_name = 'db2'\n"));
  EXPECT_FALSE(contains(text, "password=")) << "the password belongs in the passfile only";
}

TEST(PgFiles, HbaIsScramEverywhereAndNeverTrust) {
  auto text = pgHbaConf("replicator");
  EXPECT_FALSE(contains(text, "trust"));
  EXPECT_FALSE(contains(text, " md5"));
  EXPECT_TRUE(contains(text, "local   all          all              scram-sha-256\n"));
  EXPECT_TRUE(contains(text, "host    all          all   0.0.0.0/0  scram-sha-256\n"));
  EXPECT_TRUE(contains(text, "host    all          all   ::/0       scram-sha-256\n"));
  EXPECT_TRUE(contains(text, "host    replication  replicator   0.0.0.0/0  scram-sha-256\n"));
  EXPECT_TRUE(contains(text, "host    replication  replicator   ::/0       scram-sha-256\n"));
}

TEST(PgFiles, HbaQuotesUnusualUserNamesAndKeywords) {
  EXPECT_EQ(hbaToken("replicator"), "replicator");
  EXPECT_EQ(hbaToken("repl-user"), "\"repl-user\"");
  EXPECT_EQ(hbaToken("all"), "\"all\"");
  EXPECT_TRUE(contains(pgHbaConf("repl-user"), "replication  \"repl-user\""));
}

TEST(PgFiles, QuotingRules) {
  EXPECT_EQ(confLiteral("it's"), "'it''s'");
  EXPECT_EQ(confLiteral("a\\b"), "'a\\\\b'");
  EXPECT_EQ(conninfoValue("it's a\\b"), "'it\\'s a\\\\b'");
  EXPECT_EQ(passfileLine("db1", 5432, "rep:l", "p:w\\d"), "db1:5432:*:rep\\:l:p\\:w\\\\d\n");
  EXPECT_EQ(anyHostPassfileLine("rep:l", "p:w\\d"), "*:*:*:rep\\:l:p\\:w\\\\d\n");
}

TEST(PgFiles, SocketDirectoryFallsBackWhenThePathIsTooLong) {
  EXPECT_EQ(socketDirectoryFor("/var/lib/postgresql/data", 5432), "/var/lib/postgresql/data");
  std::string longDir = "/" + std::string(100, 'd');
  EXPECT_EQ(socketDirectoryFor(longDir, 5432), "");
  // 107 bytes exactly still fits: "/" + 92 + "/.s.PGSQL.5432" (14).
  std::string edge = "/" + std::string(92, 'e');
  EXPECT_EQ(socketDirectoryFor(edge, 5432), edge);
  EXPECT_EQ(socketDirectoryFor(edge + "x", 5432), "");
}

TEST(PgFiles, LocalConnectHost) {
  EXPECT_EQ(localConnectHost("*", "/data"), "/data");
  EXPECT_EQ(localConnectHost("*", ""), "127.0.0.1");
  EXPECT_EQ(localConnectHost("10.0.0.5, 127.0.0.1", ""), "127.0.0.1");
  EXPECT_EQ(localConnectHost("10.0.0.5", ""), "10.0.0.5");
  EXPECT_EQ(localConnectHost("::", ""), "::1");
}

}  // namespace
}  // namespace pgswarm::agent
