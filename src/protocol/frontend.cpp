// Parsing and encoding of the query-protocol frontend messages. Every parse
// reads the body with a body Reader (short = malformed) and ends with
// expectEnd(); counts are checked against the body before any reserve().
#include "protocol/frontend.hpp"

#include "protocol/codec.hpp"

namespace pgswarm::protocol {
namespace {

using detail::putInt16Array;
using detail::readInt16Array;

ParseResult<ObjectKind> readObjectKind(Reader& reader) {
  PGSWARM_PROTOCOL_TRY(kind, reader.byte());
  if (kind == 'S') return ObjectKind::kStatement;
  if (kind == 'P') return ObjectKind::kPortal;
  return malformed("object kind is neither 'S' nor 'P'");
}

template <typename M>
EncodeStatus encodeNamed(Writer& out, const M& message) {
  out.begin(M::kType);
  if (message.kind != ObjectKind::kStatement && message.kind != ObjectKind::kPortal) {
    out.fail(EncodeStatus::kInvalidValue);
  }
  out.putByte(static_cast<std::uint8_t>(message.kind));
  out.putCString(message.name);
  return out.finish();
}

template <typename M>
ParseResult<M> parseNamed(Bytes body) {
  Reader reader = Reader::forBody(body);
  M message;
  PGSWARM_PROTOCOL_TRY(kind, readObjectKind(reader));
  PGSWARM_PROTOCOL_TRY(name, reader.cstring());
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  message.kind = kind;
  message.name = name;
  return message;
}

}  // namespace

ParseResult<Query> Query::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(sql, reader.cstring());
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return Query{.sql = sql};
}

EncodeStatus Query::encode(Writer& out) const {
  out.begin(kType);
  out.putCString(sql);
  return out.finish();
}

ParseResult<Parse> Parse::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  Parse message;
  PGSWARM_PROTOCOL_TRY(statement, reader.cstring());
  PGSWARM_PROTOCOL_TRY(sql, reader.cstring());
  PGSWARM_PROTOCOL_TRY(types, detail::readInt32Array(reader));
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  message.statement = statement;
  message.sql = sql;
  message.parameterTypes = std::move(types);
  return message;
}

EncodeStatus Parse::encode(Writer& out) const {
  out.begin(kType);
  out.putCString(statement);
  out.putCString(sql);
  detail::putInt32Array(out, parameterTypes);
  return out.finish();
}

ParseResult<Bind> Bind::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  Bind message;
  PGSWARM_PROTOCOL_TRY(portal, reader.cstring());
  PGSWARM_PROTOCOL_TRY(statement, reader.cstring());
  PGSWARM_PROTOCOL_TRY(formats, readInt16Array(reader));
  PGSWARM_PROTOCOL_TRY(values, detail::readNullableValues(reader));
  PGSWARM_PROTOCOL_TRY(results, readInt16Array(reader));
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  if (formats.size() > 1 && formats.size() != values.size()) {
    return malformed("bind parameter format count does not match parameter count");
  }
  message.portal = portal;
  message.statement = statement;
  message.parameterFormats = std::move(formats);
  message.parameters = std::move(values);
  message.resultFormats = std::move(results);
  return message;
}

EncodeStatus Bind::encode(Writer& out) const {
  out.begin(kType);
  out.putCString(portal);
  out.putCString(statement);
  putInt16Array(out, parameterFormats);
  detail::putNullableValues(out, parameters);
  putInt16Array(out, resultFormats);
  return out.finish();
}

ParseResult<Describe> Describe::parse(Bytes body) {
  return parseNamed<Describe>(body);
}

EncodeStatus Describe::encode(Writer& out) const {
  return encodeNamed(out, *this);
}

ParseResult<Execute> Execute::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(portal, reader.cstring());
  PGSWARM_PROTOCOL_TRY(maxRows, reader.int32());
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return Execute{.portal = portal, .maxRows = maxRows};
}

EncodeStatus Execute::encode(Writer& out) const {
  out.begin(kType);
  out.putCString(portal);
  out.putInt32(maxRows);
  return out.finish();
}

ParseResult<Close> Close::parse(Bytes body) {
  return parseNamed<Close>(body);
}

EncodeStatus Close::encode(Writer& out) const {
  return encodeNamed(out, *this);
}

}  // namespace pgswarm::protocol
