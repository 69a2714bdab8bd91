// TCP port checks: see ports.hpp.
#include "runtime/ports.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pgswarm::runtime {
namespace {

Result<int> bindProbe(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return makeError("socket: {}", std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (host != "*" && !host.empty() && ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    return makeError("'{}' is not an IPv4 address", host);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int saved = errno;
    ::close(fd);
    return makeError("port {} on {} is not available: {}", port, host, std::strerror(saved));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

}  // namespace

Status checkPortFree(const std::string& host, int port) {
  auto bound = bindProbe(host, port);
  if (!bound) return bound.error();
  return Ok{};
}

Result<int> pickFreePort() {
  return bindProbe("127.0.0.1", 0);
}

}  // namespace pgswarm::runtime
