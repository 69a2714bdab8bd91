// Shared field codecs. Counts are validated against the bytes left in the
// body before reserve(), so a hostile count cannot make us allocate.
// Must stay free of message-level knowledge.
#include "protocol/codec.hpp"

#include <limits>

namespace pgswarm::protocol::detail {

ParseResult<std::vector<std::int16_t>> readInt16Array(Reader& reader) {
  PGSWARM_PROTOCOL_TRY(count, reader.count16(2));
  std::vector<std::int16_t> values;
  values.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    PGSWARM_PROTOCOL_TRY(value, reader.int16());
    values.push_back(value);
  }
  return values;
}

ParseResult<std::vector<std::int32_t>> readInt32Array(Reader& reader) {
  PGSWARM_PROTOCOL_TRY(count, reader.count16(4));
  std::vector<std::int32_t> values;
  values.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    PGSWARM_PROTOCOL_TRY(value, reader.int32());
    values.push_back(value);
  }
  return values;
}

ParseResult<std::optional<std::string_view>> readNullableValue(Reader& reader) {
  PGSWARM_PROTOCOL_TRY(length, reader.int32());
  if (length == kNullLength) return std::optional<std::string_view>();
  if (length < 0) return malformed("negative value length");
  PGSWARM_PROTOCOL_TRY(value, reader.text(static_cast<std::size_t>(length)));
  return std::optional<std::string_view>(value);
}

ParseResult<NullableValues> readNullableValues(Reader& reader) {
  PGSWARM_PROTOCOL_TRY(count, reader.count16(4));
  NullableValues values;
  values.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    PGSWARM_PROTOCOL_TRY(value, readNullableValue(reader));
    values.push_back(value);
  }
  return values;
}

ParseResult<std::vector<std::string_view>> readStringList(Reader& reader) {
  std::vector<std::string_view> values;
  while (true) {
    PGSWARM_PROTOCOL_TRY(value, reader.cstring());
    if (value.empty()) return values;
    values.push_back(value);
  }
}

void putInt16Array(Writer& out, const std::vector<std::int16_t>& values) {
  out.putCount16(values.size());
  for (std::int16_t value : values) out.putInt16(value);
}

void putInt32Array(Writer& out, const std::vector<std::int32_t>& values) {
  out.putCount16(values.size());
  for (std::int32_t value : values) out.putInt32(value);
}

void putNullableValue(Writer& out, const std::optional<std::string_view>& value) {
  if (!value) {
    out.putInt32(kNullLength);
    return;
  }
  if (value->size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    out.fail(EncodeStatus::kTooLong);
    return;
  }
  out.putInt32(static_cast<std::int32_t>(value->size()));
  out.putBytes(*value);
}

void putNullableValues(Writer& out, const NullableValues& values) {
  out.putCount16(values.size());
  for (const auto& value : values) putNullableValue(out, value);
}

void putStringList(Writer& out, const std::vector<std::string_view>& values) {
  for (std::string_view value : values) {
    if (value.empty()) out.fail(EncodeStatus::kInvalidValue);
    out.putCString(value);
  }
  out.putByte(0);
}

}  // namespace pgswarm::protocol::detail
