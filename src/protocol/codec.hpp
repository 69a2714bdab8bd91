// Field-level helpers shared by the message codecs: arrays with int16 counts
// and nullable length-prefixed values. Internal to protocol/ (namespace
// detail); callers use the message types instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "protocol/codes.hpp"
#include "protocol/reader.hpp"
#include "protocol/writer.hpp"

namespace pgswarm::protocol::detail {

using NullableValues = std::vector<std::optional<std::string_view>>;

[[nodiscard]] ParseResult<std::vector<std::int16_t>> readInt16Array(Reader& reader);
[[nodiscard]] ParseResult<std::vector<std::int32_t>> readInt32Array(Reader& reader);
// int32 length (-1 = NULL, other negatives malformed) then that many bytes.
[[nodiscard]] ParseResult<std::optional<std::string_view>> readNullableValue(Reader& reader);
[[nodiscard]] ParseResult<NullableValues> readNullableValues(Reader& reader);
// C strings up to an empty one (the list terminator).
[[nodiscard]] ParseResult<std::vector<std::string_view>> readStringList(Reader& reader);

void putInt16Array(Writer& out, const std::vector<std::int16_t>& values);
void putInt32Array(Writer& out, const std::vector<std::int32_t>& values);
void putNullableValue(Writer& out, const std::optional<std::string_view>& value);
void putNullableValues(Writer& out, const NullableValues& values);
// Fails the message with kInvalidValue on an empty entry, which would end the list.
void putStringList(Writer& out, const std::vector<std::string_view>& values);

}  // namespace pgswarm::protocol::detail
