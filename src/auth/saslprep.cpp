// SASLprep via libidn with one deliberate change of order: PostgreSQL checks
// prohibited/unassigned/bidi characters on the mapped string *before* NFKC
// (src/common/saslprep.c), whereas libidn's own profile checks after. We run
// libidn's SASLprep tables in PostgreSQL's order so both ends hash alike.
#include "auth/saslprep.hpp"

#include <cstdint>
#include <vector>

#include <stringprep.h>

namespace pgswarm::auth {
namespace {

bool isAscii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Length of the UTF-8 sequence starting at text[i], or 0 if it is not legal
// (overlong forms, surrogates and values above U+10FFFF are illegal, as in
// PostgreSQL's pg_utf8_islegal).
std::size_t utf8SequenceLength(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  unsigned char lead = byte(0);
  std::size_t length = lead < 0x80   ? 1
                       : lead < 0xC2 ? 0
                       : lead < 0xE0 ? 2
                       : lead < 0xF0 ? 3
                       : lead < 0xF5 ? 4
                                     : 0;
  if (length == 0 || i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(k) & 0xC0) != 0x80) return 0;
  }
  if (lead == 0xE0 && byte(1) < 0xA0) return 0;  // overlong 3-byte
  if (lead == 0xED && byte(1) > 0x9F) return 0;  // surrogates
  if (lead == 0xF0 && byte(1) < 0x90) return 0;  // overlong 4-byte
  if (lead == 0xF4 && byte(1) > 0x8F) return 0;  // above U+10FFFF
  return length;
}

bool isValidUtf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    std::size_t length = utf8SequenceLength(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

// libidn's SASLprep steps reordered: mapping, then every check, then NFKC.
std::vector<Stringprep_profile> buildPostgresOrderProfile() {
  std::vector<Stringprep_profile> maps;
  std::vector<Stringprep_profile> checks;
  Stringprep_profile nfkc{};
  for (const Stringprep_profile* step = stringprep_saslprep; step->operation != 0; ++step) {
    if (step->operation == STRINGPREP_MAP_TABLE) {
      maps.push_back(*step);
    } else if (step->operation == STRINGPREP_NFKC) {
      nfkc = *step;
    } else {
      checks.push_back(*step);
    }
  }
  maps.insert(maps.end(), checks.begin(), checks.end());
  if (nfkc.operation != 0) maps.push_back(nfkc);
  maps.push_back(Stringprep_profile{});  // the terminator libidn expects
  return maps;
}

const Stringprep_profile* postgresOrderProfile() {
  static const std::vector<Stringprep_profile> profile = buildPostgresOrderProfile();
  return profile.data();
}

// Runs the profile on a copy; grows the buffer when NFKC expands the string.
bool runProfile(std::string_view input, std::string& output) {
  std::vector<char> buffer;
  for (std::size_t capacity = input.size() * 4 + 16; capacity < (input.size() + 1) * 64;
       capacity *= 2) {
    buffer.assign(capacity, '\0');
    std::copy(input.begin(), input.end(), buffer.begin());
    int rc =
        stringprep(buffer.data(), buffer.size(), STRINGPREP_NO_UNASSIGNED, postgresOrderProfile());
    if (rc == STRINGPREP_OK) {
      output.assign(buffer.data());
      return true;
    }
    if (rc != STRINGPREP_TOO_SMALL_BUFFER) return false;
  }
  return false;
}

}  // namespace

SaslPrepResult saslPrep(std::string_view password) {
  std::string raw(password);
  if (isAscii(password)) return {std::move(raw), SaslPrepOutcome::kAscii};
  if (!isValidUtf8(password)) return {std::move(raw), SaslPrepOutcome::kInvalidUtf8};
  // U+0000 is prohibited (RFC 3454 C.2.1), and libidn works on C strings.
  if (password.find('\0') != std::string_view::npos) {
    return {std::move(raw), SaslPrepOutcome::kProhibited};
  }
  std::string prepared;
  // Mapping can only empty a string by deleting every character, and NFKC
  // never empties one, so an empty result means PostgreSQL's "empty after
  // mapping" rejection.
  if (!runProfile(password, prepared) || prepared.empty()) {
    return {std::move(raw), SaslPrepOutcome::kProhibited};
  }
  return {std::move(prepared), SaslPrepOutcome::kNormalized};
}

std::string saslPrepPassword(std::string_view password) {
  return saslPrep(password).password;
}

}  // namespace pgswarm::auth
