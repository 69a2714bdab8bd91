// What all workers of one pool process share: the validated config, the
// users, the cancel keys and a few counters. Nothing here is touched per
// message; workers own their pools and sessions.
#pragma once

#include <atomic>

#include "proxy/cancel_registry.hpp"
#include "proxy/pool_config.hpp"
#include "proxy/users.hpp"

namespace pgswarm::proxy {

struct ProxyShared {
  explicit ProxyShared(PoolConfig c) : config(std::move(c)) {}
  const PoolConfig config;
  Users users;
  CancelRegistry cancels;
  std::atomic<int> clients{0};
};

}  // namespace pgswarm::proxy
