// PgBouncer's userlist.txt format: one `"user" "secret"` per line, `""` for a
// quote inside a field, ';' or '#' comments, blank lines. Parses text only;
// reading the file (and its *_FILE / secret rules) belongs to the caller.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "auth/secret.hpp"
#include "common/result.hpp"

namespace pgswarm::auth {

using UserList = std::map<std::string, Secret, std::less<>>;

// source names the text in error messages ("<source>:<line>: ..."). Unlike
// PgBouncer, which skips the rest of a broken file, any malformed line, an
// empty user name, a duplicate user or a malformed SCRAM secret is an error.
[[nodiscard]] Result<UserList> parseUserList(std::string_view text,
                                             std::string_view source = "userlist");

}  // namespace pgswarm::auth
