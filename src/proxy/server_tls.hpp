// server_tls_* (the pool as a TLS client of its nodes) turned into what
// each of the pool's connections to a node takes: the data path's client
// context, loaded at start and again on RELOAD, and libpq keywords for the
// control plane (health checks, failover, shard map, foreign servers).
// Knows nothing of sockets; the data path's handshake is pool/'s.
#pragma once

#include <mutex>
#include <string>

#include "cluster/pg_client.hpp"
#include "pool/server_connection.hpp"
#include "proxy/pool_config.hpp"

namespace pgswarm::proxy {

struct ProxyShared;

// Loads server_tls_* into the pool's one pool::ServerTls: when the pool
// starts, and on RELOAD only when a setting or a file's contents changed.
// New settings or files that do not load leave the old ones in place.
class ServerTlsLoader {
 public:
  // Reads every file of `config` now; an error names the file and
  // OpenSSL's reason. True in `changed` when `tls` got a new setting.
  [[nodiscard]] Status load(const PoolConfig& config, pool::ServerTls& tls,
                            bool* changed = nullptr);

 private:
  std::mutex mutex_;        // RELOAD and SIGHUP may come at once
  std::string loadedFrom_;  // the settings and the files' contents in `tls`
};

// RELOAD and SIGHUP: server_tls_* as the config says now (read again like
// the pool sizes), for the server connections opened from now on. The
// libpq connections keep the keywords they started with; libpq reads the
// files afresh on each connect.
[[nodiscard]] Status reloadServerTls(ProxyShared& shared, bool* changed = nullptr);

// server_tls_* in libpq's words, so every libpq connection of the pool sees
// a node as the data path does: sslmode, the root certificates (verify-ca
// and verify-full only), the client certificate and key, and the protocol
// range. server_tls_ciphers has no libpq keyword: libpq keeps its own list.
[[nodiscard]] cluster::ConnectKeywords libpqTlsKeywords(const PoolConfig& config);

}  // namespace pgswarm::proxy
