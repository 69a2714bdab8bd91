// Server-side SCRAM: parse exactly what PostgreSQL accepts, reject what it
// rejects, and spend the same work on a mock exchange as on a real one, so
// neither the messages nor the timing reveal whether a user exists.
#include "auth/scram_server.hpp"

#include <tuple>

#include "auth/scram_attributes.hpp"

namespace pgswarm::auth {
namespace {

using detail::AttributeReader;
using detail::sanitizeChar;

// "biws" is base64("n,,") and "eSws" base64("y,,"): the gs2 header echoed
// back in client-final-message when no channel binding is in use.
constexpr std::string_view kCbindNone = "biws";
constexpr std::string_view kCbindClientCapable = "eSws";

}  // namespace

ScramServer ScramServer::forSecret(ScramSecret secret) {
  return ScramServer(std::move(secret), false);
}

Result<ScramServer> ScramServer::forPassword(std::string_view password) {
  auto secret = buildScramSecret(password);
  if (!secret) return secret.error();
  // An empty password never authenticates (PostgreSQL cannot even store one).
  return ScramServer(std::move(*secret), password.empty());
}

Result<ScramServer> ScramServer::mock(std::string_view username, ByteSpan mock_key) {
  if (mock_key.size() < kScramMockKeyMinLength) {
    return makeError("SCRAM mock key must have at least {} bytes", kScramMockKeyMinLength);
  }
  auto digest = hmacSha256(mock_key, asBytes(username));
  if (!digest) return digest.error();
  ScramSecret secret;
  secret.salt.assign(digest->begin(), digest->begin() + kScramDefaultSaltLength);
  return ScramServer(std::move(secret), true);  // zero keys: no proof can match
}

Result<ScramServer> ScramServer::forUser(const Secret* secret, std::string_view username,
                                         ByteSpan mock_key) {
  if (secret == nullptr || kindOf(*secret) == SecretKind::kMd5) return mock(username, mock_key);
  if (const auto* plain = std::get_if<PlainSecret>(secret)) return forPassword(plain->password);
  return forSecret(std::get<ScramSecret>(*secret));
}

Error ScramServer::fail(AuthErrorCode code, Error error) {
  lastError_ = code;
  state_ = State::kFailed;
  return error;
}

Result<std::string> ScramServer::handleClientFirst(std::string_view message) {
  auto raw_nonce = randomBytes(kScramRawNonceLength);
  if (!raw_nonce) return fail(AuthErrorCode::kCrypto, raw_nonce.error());
  return handleClientFirst(message, base64Encode(*raw_nonce));
}

Result<std::string> ScramServer::handleClientFirst(std::string_view message,
                                                   std::string_view server_nonce) {
  if (state_ != State::kExpectClientFirst) {
    return fail(AuthErrorCode::kOutOfOrder, makeError("SCRAM client-first-message out of order"));
  }
  if (server_nonce.empty() || !detail::isScramPrintable(server_nonce)) {
    return fail(AuthErrorCode::kOutOfOrder, makeError("SCRAM server nonce must be printable"));
  }
  if (auto ok = readClientFirst(message); !ok) return ok.error();
  serverNonce_ = server_nonce;
  serverFirst_ = fmt::format("r={}{},s={},i={}", clientNonce_, serverNonce_,
                             base64Encode(secret_.salt), secret_.iterations);
  state_ = State::kExpectClientFinal;
  return serverFirst_;
}

Status ScramServer::readGs2Header(std::string_view message, std::size_t& offset) {
  char flag = message[0];
  if (flag == 'p') {
    return fail(AuthErrorCode::kUnsupported,
                makeError("client requires SCRAM channel binding (SCRAM-SHA-256-PLUS), which is "
                          "not offered; only SCRAM-SHA-256 without channel binding is supported"));
  }
  if (flag != 'n' && flag != 'y') {
    return fail(AuthErrorCode::kMalformedMessage,
                makeError("malformed SCRAM message: unexpected channel-binding flag {}",
                          sanitizeChar(flag)));
  }
  if (message.size() < 2 || message[1] != ',') {
    return fail(
        AuthErrorCode::kMalformedMessage,
        makeError("malformed SCRAM message: comma expected after the channel-binding flag"));
  }
  cbindFlag_ = flag;
  offset = 2;
  if (offset < message.size() && message[offset] == 'a') {
    return fail(AuthErrorCode::kUnsupported,
                makeError("client uses authorization identity, but it is not supported"));
  }
  if (offset >= message.size() || message[offset] != ',') {
    return fail(AuthErrorCode::kMalformedMessage,
                makeError("malformed SCRAM message: unexpected attribute in client-first-message"));
  }
  ++offset;
  return Ok{};
}

Status ScramServer::readClientFirst(std::string_view message) {
  if (auto ok = detail::checkMessage(message); !ok) {
    return fail(AuthErrorCode::kMalformedMessage, ok.error());
  }
  std::size_t offset = 0;
  if (auto ok = readGs2Header(message, offset); !ok) return ok.error();
  clientFirstBare_ = message.substr(offset);
  if (clientFirstBare_.starts_with('m')) {
    return fail(AuthErrorCode::kUnsupported,
                makeError("client requires an unsupported SCRAM extension"));
  }
  AttributeReader reader(clientFirstBare_);
  // The username attribute is read and ignored: the startup packet's user
  // counts, and libpq sends "n=" empty.
  auto username = reader.expect('n');
  if (!username) return fail(AuthErrorCode::kMalformedMessage, username.error());
  auto nonce = reader.expect('r');
  if (!nonce) return fail(AuthErrorCode::kMalformedMessage, nonce.error());
  if (nonce->empty() || !detail::isScramPrintable(*nonce)) {
    return fail(AuthErrorCode::kMalformedMessage,
                makeError("malformed SCRAM message: empty or non-printable nonce"));
  }
  clientNonce_ = *nonce;
  while (!reader.atEnd()) {  // optional extensions, ignored as PostgreSQL does
    if (auto extension = reader.any(); !extension) {
      return fail(AuthErrorCode::kMalformedMessage, extension.error());
    }
  }
  return Ok{};
}

Status ScramServer::checkChannelBinding(std::string_view value) const {
  bool consistent = (value == kCbindNone && cbindFlag_ == 'n') ||
                    (value == kCbindClientCapable && cbindFlag_ == 'y');
  if (!consistent) {
    return makeError(
        "unexpected SCRAM channel-binding attribute in client-final-message (it must echo the "
        "gs2 header of client-first-message)");
  }
  return Ok{};
}

Result<ScramServer::ClientFinal> ScramServer::readClientFinal(std::string_view message) const {
  AttributeReader reader(message);
  ClientFinal out;
  auto channel_binding = reader.expect('c');
  if (!channel_binding) return channel_binding.error();
  if (auto ok = checkChannelBinding(*channel_binding); !ok) return ok.error();
  auto nonce = reader.expect('r');
  if (!nonce) return nonce.error();
  out.nonce = *nonce;
  std::size_t proof_start = 0;
  std::string_view proof_text;
  for (char name = 0; name != 'p';) {  // skip extensions up to the proof
    proof_start = reader.offset();
    auto attribute = reader.any();
    if (!attribute) return attribute.error();
    std::tie(name, proof_text) = *attribute;
  }
  auto proof = base64Decode(proof_text);
  if (!proof || proof->size() != kSha256Length) {
    return makeError("malformed SCRAM message: malformed proof in client-final-message");
  }
  if (!reader.atEnd()) {
    return makeError("malformed SCRAM message: garbage at the end of client-final-message");
  }
  std::copy(proof->begin(), proof->end(), out.proof.begin());
  out.withoutProof = message.substr(0, proof_start - 1);  // without ",p=..."
  return out;
}

Result<bool> ScramServer::verifyProof(const ClientFinal& final_message) {
  authMessage_ =
      fmt::format("{},{},{}", clientFirstBare_, serverFirst_, final_message.withoutProof);
  auto signature = hmacSha256(secret_.storedKey, asBytes(authMessage_));
  if (!signature) return signature.error();
  ScramKey client_key{};
  for (std::size_t i = 0; i < client_key.size(); ++i) {
    client_key[i] = final_message.proof[i] ^ (*signature)[i];
  }
  auto stored_key = sha256(client_key);
  if (!stored_key) return stored_key.error();
  if (!constantTimeEqual(*stored_key, secret_.storedKey)) return false;
  recoveredClientKey_ = client_key;
  return true;
}

Result<std::string> ScramServer::serverFinalMessage() const {
  auto signature = hmacSha256(secret_.serverKey, asBytes(authMessage_));
  if (!signature) return signature.error();
  return "v=" + base64Encode(*signature);
}

Result<ScramServerFinal> ScramServer::handleClientFinal(std::string_view message) {
  if (state_ != State::kExpectClientFinal) {
    return fail(AuthErrorCode::kOutOfOrder, makeError("SCRAM client-final-message out of order"));
  }
  if (auto ok = detail::checkMessage(message); !ok) {
    return fail(AuthErrorCode::kMalformedMessage, ok.error());
  }
  auto final_message = readClientFinal(message);
  if (!final_message) return fail(AuthErrorCode::kMalformedMessage, final_message.error());
  std::string expected_nonce = clientNonce_ + serverNonce_;
  if (!constantTimeEqual(asBytes(final_message->nonce), asBytes(expected_nonce))) {
    return fail(AuthErrorCode::kMalformedMessage,
                makeError("invalid SCRAM response: nonce does not match"));
  }
  // The proof is computed even when doomed, so a mock costs what a real one does.
  auto proven = verifyProof(*final_message);
  if (!proven) return fail(AuthErrorCode::kCrypto, proven.error());
  state_ = State::kFinished;
  if (!*proven || doomed_) {
    recoveredClientKey_.reset();
    return ScramServerFinal{Verdict::kRejected, {}};
  }
  auto server_final = serverFinalMessage();
  if (!server_final) return fail(AuthErrorCode::kCrypto, server_final.error());
  return ScramServerFinal{Verdict::kAuthenticated, std::move(*server_final)};
}

std::optional<ScramClientKeys> ScramServer::recoveredClientKeys() const {
  if (!recoveredClientKey_ || state_ != State::kFinished) return std::nullopt;
  return ScramClientKeys{*recoveredClientKey_, secret_.serverKey, secret_.salt, secret_.iterations};
}

Result<Bytes> makeScramMockKey() {
  return randomBytes(32);
}

}  // namespace pgswarm::auth
