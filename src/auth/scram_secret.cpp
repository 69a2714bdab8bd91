// Parsing is strict where PostgreSQL's parse_scram_secret() is strict (scheme,
// key lengths, base64) and stricter on the iteration count (digits only,
// positive): a malformed secret in our own files should fail loudly.
#include "auth/scram_secret.hpp"

#include <charconv>

#include "auth/saslprep.hpp"

namespace pgswarm::auth {
namespace {

struct SecretFields {
  std::string_view iterations;
  std::string_view salt;
  std::string_view storedKey;
  std::string_view serverKey;
};

// Splits "<iterations>:<salt>$<stored>:<server>" (the part after the prefix).
Result<SecretFields> splitSecret(std::string_view body) {
  auto colon = body.find(':');
  auto dollar = body.find('$', colon == std::string_view::npos ? 0 : colon);
  auto second_colon = body.find(':', dollar == std::string_view::npos ? 0 : dollar);
  if (colon == std::string_view::npos || dollar == std::string_view::npos ||
      second_colon == std::string_view::npos) {
    return makeError("invalid SCRAM secret: expected {}<iterations>:<salt>$<StoredKey>:<ServerKey>",
                     kScramSecretPrefix);
  }
  return SecretFields{body.substr(0, colon), body.substr(colon + 1, dollar - colon - 1),
                      body.substr(dollar + 1, second_colon - dollar - 1),
                      body.substr(second_colon + 1)};
}

Result<int> parseIterations(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || text.front() == '-' || ec != std::errc{} ||
      end != text.data() + text.size() || value < 1) {
    return makeError("invalid SCRAM secret: iteration count must be a positive integer");
  }
  return value;
}

Result<ScramKey> decodeKey(std::string_view text, std::string_view name) {
  auto bytes = base64Decode(text);
  if (!bytes) return makeError("invalid SCRAM secret: {}: {}", name, bytes.error().message);
  if (bytes->size() != kSha256Length) {
    return makeError("invalid SCRAM secret: {} must be {} bytes, not {}", name, kSha256Length,
                     bytes->size());
  }
  ScramKey key{};
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

}  // namespace

Result<ScramPasswordKeys> deriveScramKeys(std::string_view password, ByteSpan salt,
                                          int iterations) {
  std::string prepared = saslPrepPassword(password);
  auto salted = pbkdf2Sha256(asBytes(prepared), salt, iterations);
  if (!salted) return salted.error();
  auto client_key = hmacSha256(*salted, asBytes("Client Key"));
  auto server_key = hmacSha256(*salted, asBytes("Server Key"));
  if (!client_key || !server_key) return makeError("could not derive SCRAM keys");
  auto stored_key = sha256(*client_key);
  if (!stored_key) return stored_key.error();
  return ScramPasswordKeys{*client_key, *stored_key, *server_key};
}

bool looksLikeScramSecret(std::string_view text) {
  return text.starts_with(kScramSecretPrefix);
}

Result<ScramSecret> parseScramSecret(std::string_view text) {
  if (!looksLikeScramSecret(text)) {
    return makeError("invalid SCRAM secret: does not start with {}", kScramSecretPrefix);
  }
  auto fields = splitSecret(text.substr(kScramSecretPrefix.size()));
  if (!fields) return fields.error();
  auto iterations = parseIterations(fields->iterations);
  if (!iterations) return iterations.error();
  auto salt = base64Decode(fields->salt);
  if (!salt) return makeError("invalid SCRAM secret: salt: {}", salt.error().message);
  auto stored_key = decodeKey(fields->storedKey, "StoredKey");
  if (!stored_key) return stored_key.error();
  auto server_key = decodeKey(fields->serverKey, "ServerKey");
  if (!server_key) return server_key.error();
  return ScramSecret{*iterations, std::move(*salt), *stored_key, *server_key};
}

std::string formatScramSecret(const ScramSecret& secret) {
  return fmt::format("{}{}:{}${}:{}", kScramSecretPrefix, secret.iterations,
                     base64Encode(secret.salt), base64Encode(secret.storedKey),
                     base64Encode(secret.serverKey));
}

Result<ScramSecret> buildScramSecret(std::string_view password, int iterations) {
  auto salt = randomBytes(kScramDefaultSaltLength);
  if (!salt) return salt.error();
  return buildScramSecret(password, *salt, iterations);
}

Result<ScramSecret> buildScramSecret(std::string_view password, ByteSpan salt, int iterations) {
  auto keys = deriveScramKeys(password, salt, iterations);
  if (!keys) return keys.error();
  return ScramSecret{iterations, Bytes(salt.begin(), salt.end()), keys->storedKey, keys->serverKey};
}

Result<Verdict> verifyScramPassword(const ScramSecret& secret, std::string_view password) {
  auto keys = deriveScramKeys(password, secret.salt, secret.iterations);
  if (!keys) return keys.error();
  return constantTimeEqual(keys->serverKey, secret.serverKey) ? Verdict::kAuthenticated
                                                              : Verdict::kRejected;
}

}  // namespace pgswarm::auth
