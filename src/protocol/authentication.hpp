// Authentication exchange: the backend's 'R' requests (Ok, cleartext, MD5,
// SASL, SASLContinue, SASLFinal) and the frontend's 'p' answers (password,
// SASLInitialResponse, SASLResponse). Pure codecs: no crypto, no policy.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "protocol/codes.hpp"
#include "protocol/message.hpp"

namespace pgswarm::protocol {

// The request code of an 'R' body (kAuthOk, kAuthSasl, ...), to pick the type.
[[nodiscard]] ParseResult<std::int32_t> authenticationCode(Bytes body);

struct AuthenticationOk {
  static constexpr char kType = kAuthenticationRequest;
  [[nodiscard]] static ParseResult<AuthenticationOk> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const AuthenticationOk&) const = default;
};

struct AuthenticationCleartextPassword {
  static constexpr char kType = kAuthenticationRequest;
  [[nodiscard]] static ParseResult<AuthenticationCleartextPassword> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const AuthenticationCleartextPassword&) const = default;
};

struct AuthenticationMd5Password {
  static constexpr char kType = kAuthenticationRequest;
  std::array<std::byte, 4> salt{};

  [[nodiscard]] static ParseResult<AuthenticationMd5Password> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const AuthenticationMd5Password&) const = default;
};

struct AuthenticationSasl {
  static constexpr char kType = kAuthenticationRequest;
  std::vector<std::string_view> mechanisms;  // e.g. "SCRAM-SHA-256", non-empty names

  [[nodiscard]] static ParseResult<AuthenticationSasl> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const AuthenticationSasl&) const = default;
};

struct AuthenticationSaslContinue {
  static constexpr char kType = kAuthenticationRequest;
  std::string_view data;  // server-first-message

  [[nodiscard]] static ParseResult<AuthenticationSaslContinue> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const AuthenticationSaslContinue&) const = default;
};

struct AuthenticationSaslFinal {
  static constexpr char kType = kAuthenticationRequest;
  std::string_view data;  // server-final-message

  [[nodiscard]] static ParseResult<AuthenticationSaslFinal> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const AuthenticationSaslFinal&) const = default;
};

struct PasswordMessage {
  static constexpr char kType = kPasswordMessage;
  std::string_view password;  // cleartext or "md5" + hex digest

  [[nodiscard]] static ParseResult<PasswordMessage> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const PasswordMessage&) const = default;
};

struct SaslInitialResponse {
  static constexpr char kType = kSaslInitialResponse;
  std::string_view mechanism;
  std::optional<std::string_view> data;  // client-first-message; nullopt = length -1

  [[nodiscard]] static ParseResult<SaslInitialResponse> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const SaslInitialResponse&) const = default;
};

struct SaslResponse {
  static constexpr char kType = kSaslResponse;
  std::string_view data;  // client-final-message

  [[nodiscard]] static ParseResult<SaslResponse> parse(Bytes body);
  [[nodiscard]] EncodeStatus encode(Writer& out) const;
  bool operator==(const SaslResponse&) const = default;
};

}  // namespace pgswarm::protocol
