// server_tls_* for the pool's connections to its nodes: see server_tls.hpp.
#include "proxy/server_tls.hpp"

#include "runtime/tls.hpp"

namespace pgswarm::proxy {

cluster::ConnectKeywords libpqTlsKeywords(const PoolConfig& config) {
  cluster::ConnectKeywords keywords{{"sslmode", pool::toString(config.serverTlsMode)}};
  if (config.serverTlsMode == pool::SslMode::kDisable) return keywords;
  // libpq would verify the root certificates under require too, where the
  // data path does not: they go with the verifying modes only.
  bool verifies = config.serverTlsMode == pool::SslMode::kVerifyCa ||
                  config.serverTlsMode == pool::SslMode::kVerifyFull;
  if (verifies) keywords.emplace_back("sslrootcert", config.serverTlsCaFile);
  if (!config.serverTlsCertFile.empty()) {
    keywords.emplace_back("sslcert", config.serverTlsCertFile);
    keywords.emplace_back("sslkey", config.serverTlsKeyFile);
  }
  // The config was validated, so this parses; libpq's own floor is TLS 1.2
  // as ours, and it has no ceiling unless told.
  if (auto versions = runtime::parseTlsProtocols(config.serverTlsProtocols)) {
    keywords.emplace_back("ssl_min_protocol_version",
                          versions->min == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2");
    if (versions->max == TLS1_2_VERSION)
      keywords.emplace_back("ssl_max_protocol_version", "TLSv1.2");
  }
  return keywords;
}

}  // namespace pgswarm::proxy
