// COPY sub-protocol messages, used in both directions: CopyData (forwarded
// as an opaque view, never copied), CopyDone, CopyFail. Parse/encode only;
// tracking whether a COPY is in progress is the session's job.
#pragma once

#include <string_view>

#include "protocol/codes.hpp"
#include "protocol/message.hpp"

namespace pgswarm::protocol {

struct CopyData {
  static constexpr char kType = kCopyData;
  std::string_view data;  // raw bytes, may contain NUL

  [[nodiscard]] static ParseResult<CopyData> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const CopyData&) const = default;
};

using CopyDone = EmptyMessage<kCopyDone>;

struct CopyFail {
  static constexpr char kType = kCopyFail;
  std::string_view message;

  [[nodiscard]] static ParseResult<CopyFail> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const CopyFail&) const = default;
};

}  // namespace pgswarm::protocol
