// File helpers: see files.hpp.
#include "common/files.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace pgswarm {

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError("cannot read '{}': {}", path, std::strerror(errno));
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

Status writeFileAtomic(const std::string& path, const std::string& content, mode_t mode) {
  std::string temp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return makeError("cannot create '{}': {}", temp, std::strerror(errno));
  std::size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      return makeError("cannot write '{}': {}", temp, std::strerror(saved));
    }
    written += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, mode);  // umask must not widen or narrow what the caller asked for
  ::fsync(fd);
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    return makeError("cannot rename '{}' to '{}': {}", temp, path, std::strerror(saved));
  }
  return Ok{};
}

Result<std::string> randomToken(std::size_t length) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string token;
  while (token.size() < length) {
    unsigned char bytes[64];
    ssize_t n = ::getrandom(bytes, sizeof bytes, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return makeError("getrandom failed: {}", std::strerror(errno));
    for (ssize_t i = 0; i < n && token.size() < length; ++i) {
      // Rejection sampling keeps the distribution uniform (256 % 62 != 0).
      if (bytes[i] < 248) token += kAlphabet[bytes[i] % kAlphabet.size()];
    }
  }
  return token;
}

}  // namespace pgswarm
