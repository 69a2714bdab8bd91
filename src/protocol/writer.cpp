// Writer implementation: big-endian encoding into whichever buffer the writer
// wraps. Misuse by our own code (finish without begin) is a programming error
// and asserts; bad values are reported through EncodeStatus.
#include "protocol/writer.hpp"

#include <cassert>
#include <cstring>
#include <limits>

namespace pgswarm::protocol {

std::string_view toString(EncodeStatus status) {
  switch (status) {
    case EncodeStatus::kOk:
      return "ok";
    case EncodeStatus::kEmbeddedNul:
      return "string contains NUL";
    case EncodeStatus::kTooLong:
      return "message too long";
    case EncodeStatus::kTooMany:
      return "count does not fit int16";
    case EncodeStatus::kInvalidValue:
      return "value not expressible in the message";
  }
  return "unknown";
}

std::size_t Writer::size() const {
  return text_ != nullptr ? text_->size() : bytes_->size();
}

void Writer::append(const void* data, std::size_t size) {
  if (size == 0) return;
  if (text_ != nullptr) {
    text_->append(static_cast<const char*>(data), size);
  } else {
    const auto* first = static_cast<const std::byte*>(data);
    bytes_->insert(bytes_->end(), first, first + size);
  }
}

void Writer::patchInt32(std::size_t offset, std::int32_t value) {
  auto bits = static_cast<std::uint32_t>(value);
  for (std::size_t i = 0; i < 4; ++i) {
    auto octet = static_cast<unsigned char>(bits >> (24 - 8 * i));
    if (text_ != nullptr) {
      (*text_)[offset + i] = static_cast<char>(octet);
    } else {
      (*bytes_)[offset + i] = std::byte{octet};
    }
  }
}

void Writer::truncate(std::size_t size) {
  if (text_ != nullptr) {
    text_->resize(size);
  } else {
    bytes_->resize(size);
  }
}

void Writer::begin(char type) {
  assert(!open_);
  start_ = size();
  append(&type, 1);
  lengthOffset_ = size();
  putInt32(0);
  open_ = true;
  status_ = EncodeStatus::kOk;
}

void Writer::beginUntyped() {
  assert(!open_);
  start_ = size();
  lengthOffset_ = start_;
  putInt32(0);
  open_ = true;
  status_ = EncodeStatus::kOk;
}

void Writer::putByte(std::uint8_t value) {
  append(&value, 1);
}

void Writer::putInt16(std::int16_t value) {
  auto bits = static_cast<std::uint16_t>(value);
  const unsigned char octets[2] = {static_cast<unsigned char>(bits >> 8),
                                   static_cast<unsigned char>(bits)};
  append(octets, 2);
}

void Writer::putInt32(std::int32_t value) {
  auto bits = static_cast<std::uint32_t>(value);
  const unsigned char octets[4] = {
      static_cast<unsigned char>(bits >> 24), static_cast<unsigned char>(bits >> 16),
      static_cast<unsigned char>(bits >> 8), static_cast<unsigned char>(bits)};
  append(octets, 4);
}

void Writer::putCString(std::string_view value) {
  if (value.find('\0') != std::string_view::npos) fail(EncodeStatus::kEmbeddedNul);
  append(value.data(), value.size());
  putByte(0);
}

void Writer::putBytes(std::string_view value) {
  append(value.data(), value.size());
}

void Writer::putBytes(std::span<const std::byte> value) {
  append(value.data(), value.size());
}

void Writer::putCount16(std::size_t count) {
  if (count > static_cast<std::size_t>(std::numeric_limits<std::int16_t>::max())) {
    fail(EncodeStatus::kTooMany);
    count = 0;
  }
  putInt16(static_cast<std::int16_t>(count));
}

void Writer::fail(EncodeStatus status) {
  if (status_ == EncodeStatus::kOk) status_ = status;
}

EncodeStatus Writer::finish() {
  assert(open_);
  open_ = false;
  std::size_t length = size() - lengthOffset_;
  if (status_ == EncodeStatus::kOk &&
      length > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    status_ = EncodeStatus::kTooLong;
  }
  if (status_ != EncodeStatus::kOk) {
    truncate(start_);
    return status_;
  }
  patchInt32(lengthOffset_, static_cast<std::int32_t>(length));
  return EncodeStatus::kOk;
}

}  // namespace pgswarm::protocol
