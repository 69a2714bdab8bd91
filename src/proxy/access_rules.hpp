// The pool's current access rules (hba_file), swapped whole on RELOAD so a
// login always sees one consistent rule set, and the reload of everything
// authentication reads (rules, users, auth_query cache) as one step: a
// broken file keeps the old rules and users.
#pragma once

#include <memory>
#include <mutex>

#include "common/result.hpp"
#include "proxy/hba.hpp"

namespace pgswarm::proxy {

struct PoolConfig;
struct ProxyShared;

class AccessRules {
 public:
  // nullptr when no hba_file is set: auth_type applies to every client.
  [[nodiscard]] std::shared_ptr<const HbaRules> current() const;
  void set(std::shared_ptr<const HbaRules> rules);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const HbaRules> rules_;
};

// Reads and parses config.hbaFile; nullptr when it is not set.
[[nodiscard]] Result<std::shared_ptr<const HbaRules>> readHbaFile(const PoolConfig& config);

// Startup, SIGHUP and the console's RELOAD: re-reads the hba file and the
// users; on any error nothing changes and the error says why.
[[nodiscard]] Status reloadAuthentication(ProxyShared& shared);

// Whether `address` is one of this host's interface addresses (samehost).
[[nodiscard]] bool isOwnAddress(const IpAddress& address);

}  // namespace pgswarm::proxy
