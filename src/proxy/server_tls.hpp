// server_tls_* (the pool as a TLS client of its nodes) turned into what
// each of the pool's connections to a node takes: libpq keywords for the
// control plane (health checks, failover, shard map, foreign servers).
// Knows nothing of sockets; the data path's handshake is pool/'s.
#pragma once

#include "cluster/pg_client.hpp"
#include "proxy/pool_config.hpp"

namespace pgswarm::proxy {

// server_tls_* in libpq's words, so every libpq connection of the pool sees
// a node as the data path does: sslmode, the root certificates (verify-ca
// and verify-full only), the client certificate and key, and the protocol
// range. server_tls_ciphers has no libpq keyword: libpq keeps its own list.
[[nodiscard]] cluster::ConnectKeywords libpqTlsKeywords(const PoolConfig& config);

}  // namespace pgswarm::proxy
