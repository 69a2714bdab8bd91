// server_tls_* in libpq's words (libpqTlsKeywords): what every libpq
// connection of the pool (health checks, failover, shard map, foreign
// servers) adds to its own keywords.
#include "proxy/server_tls.hpp"

#include <gtest/gtest.h>

namespace pgswarm::proxy {
namespace {

using Keywords = cluster::ConnectKeywords;

TEST(LibpqTlsKeywords, VerifyFullNamesEveryFileAndTheProtocolFloor) {
  PoolConfig config;
  config.serverTlsMode = pool::SslMode::kVerifyFull;
  config.serverTlsCaFile = "/c/root.crt";
  config.serverTlsCrlFile = "/c/servers.crl";
  config.serverTlsCertFile = "/c/pool.crt";
  config.serverTlsKeyFile = "/c/pool.key";
  config.serverTlsProtocols = "tlsv1.3";
  EXPECT_EQ(libpqTlsKeywords(config), (Keywords{{"sslmode", "verify-full"},
                                                {"sslrootcert", "/c/root.crt"},
                                                {"sslcrl", "/c/servers.crl"},
                                                {"sslcert", "/c/pool.crt"},
                                                {"sslkey", "/c/pool.key"},
                                                {"ssl_min_protocol_version", "TLSv1.3"}}));
}

// libpq would verify root certificates under require when it has some,
// where the data path does not: neither they nor the revocation lists are passed.
TEST(LibpqTlsKeywords, RequireLeavesTheRootsOutAndCapsAtTls12WhenAsked) {
  PoolConfig config;
  config.serverTlsMode = pool::SslMode::kRequire;
  config.serverTlsCaFile = "/c/root.crt";
  config.serverTlsCrlFile = "/c/servers.crl";
  config.serverTlsProtocols = "tlsv1.2";
  EXPECT_EQ(libpqTlsKeywords(config), (Keywords{{"sslmode", "require"},
                                                {"ssl_min_protocol_version", "TLSv1.2"},
                                                {"ssl_max_protocol_version", "TLSv1.2"}}));
}

TEST(LibpqTlsKeywords, DisableIsTheModeAlone) {
  PoolConfig config;
  config.serverTlsMode = pool::SslMode::kDisable;
  config.serverTlsCertFile = "/c/pool.crt";
  config.serverTlsKeyFile = "/c/pool.key";
  EXPECT_EQ(libpqTlsKeywords(config), (Keywords{{"sslmode", "disable"}}));
}

TEST(LibpqTlsKeywords, TheDefaultIsPreferWithLibpqsOwnFloor) {
  EXPECT_EQ(libpqTlsKeywords(PoolConfig{}),
            (Keywords{{"sslmode", "prefer"}, {"ssl_min_protocol_version", "TLSv1.2"}}));
}

}  // namespace
}  // namespace pgswarm::proxy
