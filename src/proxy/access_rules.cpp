// Access rules and their reload: see access_rules.hpp.
#include "proxy/access_rules.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstring>

#include "common/files.hpp"
#include "proxy/shared_state.hpp"

namespace pgswarm::proxy {

std::shared_ptr<const HbaRules> AccessRules::current() const {
  std::lock_guard lock(mutex_);
  return rules_;
}

void AccessRules::set(std::shared_ptr<const HbaRules> rules) {
  std::lock_guard lock(mutex_);
  rules_ = std::move(rules);
}

Result<std::shared_ptr<const HbaRules>> readHbaFile(const PoolConfig& config) {
  if (config.hbaFile.empty()) return std::shared_ptr<const HbaRules>();
  auto text = readFile(config.hbaFile);
  if (!text) return text.error();
  auto rules = parseHba(*text, config.hbaFile);
  if (!rules) return rules.error();
  return std::shared_ptr<const HbaRules>(std::make_shared<HbaRules>(std::move(*rules)));
}

Status reloadAuthentication(ProxyShared& shared) {
  // The rules are read first: a broken hba file must not leave new users
  // behind old rules. Users::load changes nothing when it fails.
  auto rules = readHbaFile(shared.config);
  if (!rules) return rules.error();
  if (auto users = shared.users.load(shared.config); !users) return users.error();
  shared.access.set(std::move(*rules));
  // A changed auth_user or a changed role must not wait out old answers.
  shared.authCache.clear();
  return Ok{};
}

bool isOwnAddress(const IpAddress& address) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  bool found = false;
  for (auto* entry = list; entry != nullptr && !found; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr) continue;
    if (entry->ifa_addr->sa_family == AF_INET && address.family == IpAddress::Family::kV4) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
      found = std::memcmp(&in->sin_addr, address.bytes.data(), 4) == 0;
    } else if (entry->ifa_addr->sa_family == AF_INET6 && address.family == IpAddress::Family::kV6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(entry->ifa_addr);
      found = std::memcmp(&in6->sin6_addr, address.bytes.data(), 16) == 0;
    }
  }
  ::freeifaddrs(list);
  return found;
}

}  // namespace pgswarm::proxy
