// Client-side SCRAM: accepts what libpq accepts from a server and checks the
// server's signature before reporting success, so a server that does not know
// the secret cannot pretend to have authenticated us.
#include "auth/scram_client.hpp"

#include <charconv>

#include "auth/scram_attributes.hpp"
#include "auth/scram_server.hpp"

namespace pgswarm::auth {
namespace {

using detail::AttributeReader;

constexpr std::string_view kGs2Header = "n,,";
constexpr std::string_view kCbindNone = "biws";  // base64("n,,")

Result<std::string> makeClientNonce(std::string given) {
  if (!given.empty()) {
    if (!detail::isScramPrintable(given)) return makeError("SCRAM client nonce must be printable");
    return given;
  }
  auto raw = randomBytes(kScramRawNonceLength);
  if (!raw) return raw.error();
  return base64Encode(*raw);
}

// The server's error text as we repeat it: printable ASCII only, bounded.
std::string sanitizeServerText(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 200)) out += (c >= 0x20 && c <= 0x7E) ? c : '?';
  return out;
}

Result<int> parseIterationCount(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < 1) {
    return makeError("malformed SCRAM message: invalid iteration count");
  }
  return value;
}

}  // namespace

ScramClient::ScramClient(std::string client_nonce, std::string_view username)
    : clientNonce_(std::move(client_nonce)),
      clientFirst_(
          fmt::format("{}n={},r={}", kGs2Header, detail::escapeSaslName(username), clientNonce_)) {}

Result<ScramClient> ScramClient::fromPassword(std::string_view password,
                                              ScramClientOptions options) {
  auto nonce = makeClientNonce(std::move(options.clientNonce));
  if (!nonce) return nonce.error();
  ScramClient client(std::move(*nonce), options.username);
  client.password_ = std::string(password);
  return client;
}

Result<ScramClient> ScramClient::fromKeys(ScramClientKeys keys, ScramClientOptions options) {
  auto nonce = makeClientNonce(std::move(options.clientNonce));
  if (!nonce) return nonce.error();
  ScramClient client(std::move(*nonce), options.username);
  client.keys_ = std::move(keys);
  return client;
}

Error ScramClient::fail(AuthErrorCode code, Error error) {
  lastError_ = code;
  state_ = State::kFailed;
  return error;
}

Result<ScramClient::ServerFirst> ScramClient::readServerFirst(std::string_view message) const {
  if (auto ok = detail::checkMessage(message); !ok) return ok.error();
  AttributeReader reader(message);
  auto nonce = reader.expect('r');
  if (!nonce) return nonce.error();
  if (!nonce->starts_with(clientNonce_)) {
    return makeError("invalid SCRAM response: nonce does not start with ours");
  }
  auto salt_text = reader.expect('s');
  if (!salt_text) return salt_text.error();
  auto salt = base64Decode(*salt_text);
  if (!salt) return makeError("malformed SCRAM message: invalid salt");
  auto iterations_text = reader.expect('i');
  if (!iterations_text) return iterations_text.error();
  auto iterations = parseIterationCount(*iterations_text);
  if (!iterations) return iterations.error();
  if (!reader.atEnd()) {
    return makeError("malformed SCRAM message: garbage at the end of server-first-message");
  }
  return ServerFirst{*nonce, std::move(*salt), *iterations};
}

Status ScramClient::deriveKeys(const ServerFirst& server_first) {
  if (password_) {
    auto keys = deriveScramKeys(*password_, server_first.salt, server_first.iterations);
    if (!keys) return fail(AuthErrorCode::kCrypto, keys.error());
    keys_ = ScramClientKeys{keys->clientKey, keys->serverKey, server_first.salt,
                            server_first.iterations};
    return Ok{};
  }
  if (!keys_->salt.empty() &&
      (keys_->salt != server_first.salt || keys_->iterations != server_first.iterations)) {
    return fail(AuthErrorCode::kSecretMismatch,
                makeError("the server's SCRAM salt or iteration count differs from the secret the "
                          "client key belongs to; the server must store the same SCRAM secret"));
  }
  return Ok{};
}

Result<std::string> ScramClient::buildClientFinal(std::string_view nonce,
                                                  std::string_view server_first) {
  std::string without_proof = fmt::format("c={},r={}", kCbindNone, nonce);
  authMessage_ = fmt::format("{},{},{}", std::string_view(clientFirst_).substr(kGs2Header.size()),
                             server_first, without_proof);
  auto stored_key = sha256(keys_->clientKey);
  if (!stored_key) return stored_key.error();
  auto signature = hmacSha256(*stored_key, asBytes(authMessage_));
  if (!signature) return signature.error();
  ScramKey proof{};
  for (std::size_t i = 0; i < proof.size(); ++i) proof[i] = keys_->clientKey[i] ^ (*signature)[i];
  return fmt::format("{},p={}", without_proof, base64Encode(proof));
}

Result<std::string> ScramClient::handleServerFirst(std::string_view message) {
  if (state_ != State::kExpectServerFirst) {
    return fail(AuthErrorCode::kOutOfOrder, makeError("SCRAM server-first-message out of order"));
  }
  auto server_first = readServerFirst(message);
  if (!server_first) return fail(AuthErrorCode::kMalformedMessage, server_first.error());
  if (auto ok = deriveKeys(*server_first); !ok) return ok.error();
  auto client_final = buildClientFinal(server_first->nonce, message);
  if (!client_final) return fail(AuthErrorCode::kCrypto, client_final.error());
  state_ = State::kExpectServerFinal;
  return client_final;
}

Status ScramClient::handleServerFinal(std::string_view message) {
  if (state_ != State::kExpectServerFinal) {
    return fail(AuthErrorCode::kOutOfOrder, makeError("SCRAM server-final-message out of order"));
  }
  if (auto ok = detail::checkMessage(message); !ok) {
    return fail(AuthErrorCode::kMalformedMessage, ok.error());
  }
  AttributeReader reader(message);
  if (reader.peek() == 'e') {
    auto text = reader.expect('e');
    return fail(AuthErrorCode::kServerError,
                makeError("error received from server in SCRAM exchange: {}",
                          text ? sanitizeServerText(*text) : std::string("(malformed)")));
  }
  auto verifier = reader.expect('v');
  if (!verifier) return fail(AuthErrorCode::kMalformedMessage, verifier.error());
  auto signature = base64Decode(*verifier);
  if (!signature || signature->size() != kSha256Length || !reader.atEnd()) {
    return fail(AuthErrorCode::kMalformedMessage,
                makeError("malformed SCRAM message: invalid server signature"));
  }
  auto expected = hmacSha256(keys_->serverKey, asBytes(authMessage_));
  if (!expected) return fail(AuthErrorCode::kCrypto, expected.error());
  if (!constantTimeEqual(*expected, *signature)) {
    return fail(AuthErrorCode::kServerSignatureMismatch, makeError("incorrect server signature"));
  }
  state_ = State::kFinished;
  return Ok{};
}

}  // namespace pgswarm::auth
