// Authentication message codecs. Each 'R' parser checks its own request code
// so a mismatched call is malformed, not misread. Must not compute digests or
// SCRAM proofs: that lives in auth/.
#include "protocol/authentication.hpp"

#include <algorithm>

#include "protocol/codec.hpp"

namespace pgswarm::protocol {
namespace {

ParseResult<Ok> expectCode(Reader& reader, std::int32_t code) {
  PGSWARM_PROTOCOL_TRY(value, reader.int32());
  if (value != code) return malformed("unexpected authentication request code");
  return Ok{};
}

template <typename M>
ParseResult<M> parseCodeOnly(Bytes body, std::int32_t code) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_CHECK(expectCode(reader, code));
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return M{};
}

ParseResult<std::string_view> parseCodeAndRest(Bytes body, std::int32_t code) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_CHECK(expectCode(reader, code));
  return reader.rest();
}

EncodeStatus encodeRequest(Writer& out, std::int32_t code, std::string_view data = {}) {
  out.begin(kAuthenticationRequest);
  out.putInt32(code);
  out.putBytes(data);
  return out.finish();
}

}  // namespace

ParseResult<std::int32_t> authenticationCode(Bytes body) {
  Reader reader = Reader::forBody(body);
  return reader.int32();
}

ParseResult<AuthenticationOk> AuthenticationOk::parse(Bytes body) {
  return parseCodeOnly<AuthenticationOk>(body, kAuthOk);
}

EncodeStatus AuthenticationOk::encode(Writer& out) const {
  return encodeRequest(out, kAuthOk);
}

ParseResult<AuthenticationCleartextPassword> AuthenticationCleartextPassword::parse(Bytes body) {
  return parseCodeOnly<AuthenticationCleartextPassword>(body, kAuthCleartextPassword);
}

EncodeStatus AuthenticationCleartextPassword::encode(Writer& out) const {
  return encodeRequest(out, kAuthCleartextPassword);
}

ParseResult<AuthenticationMd5Password> AuthenticationMd5Password::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_CHECK(expectCode(reader, kAuthMd5Password));
  PGSWARM_PROTOCOL_TRY(salt, reader.bytes(4));
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  AuthenticationMd5Password message;
  std::copy(salt.begin(), salt.end(), message.salt.begin());
  return message;
}

EncodeStatus AuthenticationMd5Password::encode(Writer& out) const {
  out.begin(kType);
  out.putInt32(kAuthMd5Password);
  out.putBytes(std::span<const std::byte>(salt));
  return out.finish();
}

ParseResult<AuthenticationSasl> AuthenticationSasl::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_CHECK(expectCode(reader, kAuthSasl));
  PGSWARM_PROTOCOL_TRY(mechanisms, detail::readStringList(reader));
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return AuthenticationSasl{.mechanisms = std::move(mechanisms)};
}

EncodeStatus AuthenticationSasl::encode(Writer& out) const {
  out.begin(kType);
  out.putInt32(kAuthSasl);
  detail::putStringList(out, mechanisms);
  return out.finish();
}

ParseResult<AuthenticationSaslContinue> AuthenticationSaslContinue::parse(Bytes body) {
  PGSWARM_PROTOCOL_TRY(data, parseCodeAndRest(body, kAuthSaslContinue));
  return AuthenticationSaslContinue{.data = data};
}

EncodeStatus AuthenticationSaslContinue::encode(Writer& out) const {
  return encodeRequest(out, kAuthSaslContinue, data);
}

ParseResult<AuthenticationSaslFinal> AuthenticationSaslFinal::parse(Bytes body) {
  PGSWARM_PROTOCOL_TRY(data, parseCodeAndRest(body, kAuthSaslFinal));
  return AuthenticationSaslFinal{.data = data};
}

EncodeStatus AuthenticationSaslFinal::encode(Writer& out) const {
  return encodeRequest(out, kAuthSaslFinal, data);
}

ParseResult<PasswordMessage> PasswordMessage::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(password, reader.cstring());
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return PasswordMessage{.password = password};
}

EncodeStatus PasswordMessage::encode(Writer& out) const {
  out.begin(kType);
  out.putCString(password);
  return out.finish();
}

ParseResult<SaslInitialResponse> SaslInitialResponse::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(mechanism, reader.cstring());
  PGSWARM_PROTOCOL_TRY(data, detail::readNullableValue(reader));
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return SaslInitialResponse{.mechanism = mechanism, .data = data};
}

EncodeStatus SaslInitialResponse::encode(Writer& out) const {
  out.begin(kType);
  out.putCString(mechanism);
  detail::putNullableValue(out, data);
  return out.finish();
}

ParseResult<SaslResponse> SaslResponse::parse(Bytes body) {
  return SaslResponse{.data = asText(body)};
}

EncodeStatus SaslResponse::encode(Writer& out) const {
  out.begin(kType);
  out.putBytes(data);
  return out.finish();
}

}  // namespace pgswarm::protocol
