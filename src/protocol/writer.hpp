// Writer: appends protocol messages to an output buffer (std::string or
// std::vector<std::byte>): begin(type), put..., finish() back-patches the
// length. A failed message is removed again, so the buffer only ever holds
// whole messages. No I/O; the caller sends the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pgswarm::protocol {

enum class EncodeStatus : unsigned char {
  kOk,            // the message was appended
  kEmbeddedNul,   // a value written as a C string contains '\0'; nothing was appended
  kTooLong,       // the message exceeds the int32 length word; nothing was appended
  kTooMany,       // a count does not fit its int16 field; nothing was appended
  kInvalidValue,  // a value the format cannot express (say an empty name in a
                  // list ended by an empty name); nothing was appended
};

[[nodiscard]] std::string_view toString(EncodeStatus status);

class Writer {
 public:
  explicit Writer(std::string& out) : text_(&out) {}
  explicit Writer(std::vector<std::byte>& out) : bytes_(&out) {}

  // Starts a message: type byte and a length placeholder.
  void begin(char type);
  // Starts a startup-phase packet, which has no type byte.
  void beginUntyped();
  void putByte(std::uint8_t value);
  void putInt16(std::int16_t value);
  void putInt32(std::int32_t value);
  void putCString(std::string_view value);
  void putBytes(std::string_view value);
  void putBytes(std::span<const std::byte> value);
  // An element count written as int16; over 32767 fails the message.
  void putCount16(std::size_t count);
  // Marks the open message as failed (first failure wins).
  void fail(EncodeStatus status);
  // Patches the length; on any failure since begin() removes the message.
  [[nodiscard]] EncodeStatus finish();

  [[nodiscard]] std::size_t size() const;

 private:
  void append(const void* data, std::size_t size);
  void patchInt32(std::size_t offset, std::int32_t value);
  void truncate(std::size_t size);

  std::string* text_ = nullptr;
  std::vector<std::byte>* bytes_ = nullptr;
  std::size_t start_ = 0;         // offset of the open message
  std::size_t lengthOffset_ = 0;  // offset of its length word
  bool open_ = false;
  EncodeStatus status_ = EncodeStatus::kOk;
};

}  // namespace pgswarm::protocol
