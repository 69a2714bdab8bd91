// server_tls_* for the pool's connections to its nodes: see server_tls.hpp.
#include "proxy/server_tls.hpp"

#include "common/files.hpp"
#include "proxy/shared_state.hpp"
#include "runtime/tls.hpp"

namespace pgswarm::proxy {
namespace {

// What the setting depends on, to tell whether a RELOAD has anything to do.
Result<std::string> fingerprint(const PoolConfig& config) {
  std::string all = std::string(pool::toString(config.serverTlsMode)) + '\0' +
                    config.serverTlsProtocols + '\0' + config.serverTlsCiphers + '\0';
  for (const auto* path : {&config.serverTlsCaFile, &config.serverTlsCrlFile,
                           &config.serverTlsCertFile, &config.serverTlsKeyFile}) {
    all += *path + '\0';
    if (path->empty()) continue;
    auto text = readFile(*path);
    if (!text) return text.error();
    all += *text + '\0';
  }
  return all;
}

Result<pool::ServerTlsSettings> makeSettings(const PoolConfig& config) {
  pool::ServerTlsSettings settings{.mode = config.serverTlsMode};
  if (settings.mode == pool::SslMode::kDisable) return settings;
  bool verifies =
      settings.mode == pool::SslMode::kVerifyCa || settings.mode == pool::SslMode::kVerifyFull;
  auto context = runtime::makeTlsClientContext({.caFile = config.serverTlsCaFile,
                                                .crlFile = config.serverTlsCrlFile,
                                                .certFile = config.serverTlsCertFile,
                                                .keyFile = config.serverTlsKeyFile,
                                                .protocols = config.serverTlsProtocols,
                                                .ciphers = config.serverTlsCiphers,
                                                .verifyPeer = verifies});
  if (!context) return context.error();
  settings.context = std::move(*context);
  return settings;
}

}  // namespace

Status ServerTlsLoader::load(const PoolConfig& config, pool::ServerTls& tls, bool* changed) {
  if (changed != nullptr) *changed = false;
  std::lock_guard lock(mutex_);
  auto contents = fingerprint(config);
  // Unchanged: the same context. A file that cannot be read falls through
  // and is reported by makeTlsClientContext with its name.
  if (contents && *contents == loadedFrom_) return Ok{};
  auto settings = makeSettings(config);
  if (!settings) return settings.error();
  tls.replace(std::move(*settings));
  loadedFrom_ = contents ? *contents : std::string();
  if (changed != nullptr) *changed = true;
  return Ok{};
}

Status reloadServerTls(ProxyShared& shared, bool* changed) {
  if (changed != nullptr) *changed = false;
  if (!shared.rereadConfig)
    return shared.serverTlsLoader.load(shared.config, shared.serverTls, changed);
  auto fresh = shared.rereadConfig();
  if (!fresh) return makeError("config not applied: {}", fresh.error().message);
  return shared.serverTlsLoader.load(*fresh, shared.serverTls, changed);
}

cluster::ConnectKeywords libpqTlsKeywords(const PoolConfig& config) {
  cluster::ConnectKeywords keywords{{"sslmode", pool::toString(config.serverTlsMode)}};
  if (config.serverTlsMode == pool::SslMode::kDisable) return keywords;
  // libpq would verify the root certificates under require too, where the
  // data path does not: they go with the verifying modes only.
  bool verifies = config.serverTlsMode == pool::SslMode::kVerifyCa ||
                  config.serverTlsMode == pool::SslMode::kVerifyFull;
  if (verifies) keywords.emplace_back("sslrootcert", config.serverTlsCaFile);
  if (verifies && !config.serverTlsCrlFile.empty()) {
    keywords.emplace_back("sslcrl", config.serverTlsCrlFile);
  }
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
