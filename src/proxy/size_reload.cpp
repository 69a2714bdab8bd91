// Pool sizes on RELOAD: see size_reload.hpp.
#include "proxy/size_reload.hpp"

#include <map>

#include <spdlog/spdlog.h>

#include "proxy/pool_config.hpp"
#include "proxy/shared_state.hpp"

namespace pgswarm::proxy {

std::vector<std::string> settingsNeedingRestart(const PoolConfig& running,
                                                const PoolConfig& fresh) {
  // Compared without the sizes and server_tls_*: those are what RELOAD
  // applies (server_tls_* through reloadServerTls).
  auto withoutSizes = [](PoolConfig config) {
    const PoolConfig defaults;
    config.sizes = {};
    config.serverTlsMode = defaults.serverTlsMode;
    config.serverTlsCaFile = defaults.serverTlsCaFile;
    config.serverTlsCrlFile = defaults.serverTlsCrlFile;
    config.serverTlsCertFile = defaults.serverTlsCertFile;
    config.serverTlsKeyFile = defaults.serverTlsKeyFile;
    config.serverTlsProtocols = defaults.serverTlsProtocols;
    config.serverTlsCiphers = defaults.serverTlsCiphers;
    return describeConfig(config);
  };
  auto before = withoutSizes(running);
  auto after = withoutSizes(fresh);
  std::vector<std::string> changed;
  for (std::size_t i = 0; i < before.size() && i < after.size(); ++i) {
    if (before[i].second != after[i].second) changed.push_back(before[i].first);
  }
  return changed;
}

Status reloadPoolSizes(ProxyShared& shared, bool* changed) {
  if (changed != nullptr) *changed = false;
  if (!shared.rereadConfig) return Ok{};
  auto fresh = shared.rereadConfig();
  if (!fresh) return makeError("config not applied: {}", fresh.error().message);
  if (auto restart = settingsNeedingRestart(shared.config, *fresh); !restart.empty()) {
    std::string keys;
    for (const auto& key : restart) keys += (keys.empty() ? "" : ", ") + key;
    spdlog::warn("RELOAD applies pool sizes only; changed, in effect after a restart: {}", keys);
  }
  if (fresh->sizes == shared.slots.sizes()) return Ok{};
  shared.slots.resize(fresh->sizes);
  if (changed != nullptr) *changed = true;
  spdlog::info(
      "reloaded pool sizes: default_pool_size={} min_pool_size={} reserve_pool_size={} "
      "databases={} users={}",
      fresh->sizes.defaultPoolSize, fresh->sizes.minPoolSize, fresh->sizes.reservePoolSize,
      describeDatabaseSizes(fresh->sizes), describeUserSizes(fresh->sizes));
  return Ok{};
}

}  // namespace pgswarm::proxy
