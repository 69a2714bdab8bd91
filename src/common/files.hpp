// Small file helpers shared by every command: whole-file read, atomic write
// with a given mode (secrets are written 0600 from the first byte).
#pragma once

#include <sys/types.h>
#include <string>

#include "common/result.hpp"

namespace pgswarm {

[[nodiscard]] Result<std::string> readFile(const std::string& path);
// Writes to a temporary sibling, fsyncs, renames: readers never see a torn file.
[[nodiscard]] Status writeFileAtomic(const std::string& path, const std::string& content,
                                     mode_t mode = 0644);
// A random token of `length` characters from [A-Za-z0-9], for generated passwords.
[[nodiscard]] Result<std::string> randomToken(std::size_t length);

}  // namespace pgswarm
