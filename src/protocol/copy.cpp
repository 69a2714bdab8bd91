// CopyData / CopyFail codecs. CopyData's payload is taken as is: the proxy
// forwards it and must never interpret or re-buffer it here.
#include "protocol/copy.hpp"

namespace pgswarm::protocol {

ParseResult<CopyData> CopyData::parse(Bytes body) {
  return CopyData{.data = asText(body)};
}

EncodeStatus CopyData::encode(Writer& out) const {
  out.begin(kType);
  out.putBytes(data);
  return out.finish();
}

ParseResult<CopyFail> CopyFail::parse(Bytes body) {
  Reader reader = Reader::forBody(body);
  PGSWARM_PROTOCOL_TRY(message, reader.cstring());
  PGSWARM_PROTOCOL_CHECK(reader.expectEnd());
  return CopyFail{.message = message};
}

EncodeStatus CopyFail::encode(Writer& out) const {
  out.begin(kType);
  out.putCString(message);
  return out.finish();
}

}  // namespace pgswarm::protocol
