// Server-side statement names: see prepared_statements.hpp.
#include "proxy/prepared_statements.hpp"

#include <cstring>

#include "auth/crypto.hpp"

namespace pgswarm::proxy {

std::string serverStatementName(std::string_view sql,
                                std::span<const std::int32_t> parameterTypes) {
  std::string material;
  material.reserve(sql.size() + parameterTypes.size() * 4 + 8);
  material += std::to_string(parameterTypes.size());
  material += ':';
  for (std::int32_t type : parameterTypes) {
    char bytes[4];
    std::memcpy(bytes, &type, sizeof bytes);
    material.append(bytes, sizeof bytes);
  }
  material += sql;
  auto digest = auth::sha256(auth::asBytes(material));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = "pgswarm_";
  if (!digest) return {};  // OpenSSL failure: the caller leaves the name alone
  for (std::size_t i = 0; i < 16; ++i) {
    name += kHex[(*digest)[i] >> 4];
    name += kHex[(*digest)[i] & 0x0f];
  }
  return name;
}

}  // namespace pgswarm::proxy
