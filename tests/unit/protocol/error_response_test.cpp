// ErrorResponse / NoticeResponse fields and accessors, and the SQLSTATE
// helper that builds an ErrorResponse ready to send.
#include "protocol/error_response.hpp"

#include <gtest/gtest.h>

#include "protocol/sqlstate.hpp"
#include "test_util.hpp"

namespace pgswarm::protocol {
namespace {

using namespace std::literals;
using test::expectRoundTrip;
using test::rawMessage;

ErrorFields sampleFields() {
  return ErrorFields{.fields = {{'S', "ERREUR"},
                                {'V', "ERROR"},
                                {'C', "42P01"},
                                {'M', "relation \"nope\" does not exist"},
                                {'P', "15"},
                                {'F', "parse_relation.c"},
                                {'L', "1392"},
                                {'R', "parserOpenTable"}}};
}

TEST(ErrorResponse, RoundTripsWithAllFields) {
  expectRoundTrip(ErrorResponse{.fields = sampleFields()});
  expectRoundTrip(NoticeResponse{.fields = sampleFields()});
  expectRoundTrip(ErrorResponse{});
}

TEST(ErrorResponse, TypedAccessors) {
  ErrorFields fields = sampleFields();
  EXPECT_EQ(fields.severity(), Severity::kError);  // from 'V', not the translated 'S'
  EXPECT_EQ(fields.sqlState(), "42P01");
  EXPECT_EQ(fields.message(), "relation \"nope\" does not exist");
  EXPECT_EQ(fields.detail(), "");
  EXPECT_EQ(fields.hint(), "");
  EXPECT_EQ(fields.position(), "15"sv);
  EXPECT_EQ(fields.get(field::kRoutine), "parserOpenTable");
  EXPECT_FALSE(fields.find(field::kDetail).has_value());
}

TEST(ErrorResponse, SeverityFallsBackToLocalizedField) {
  ErrorFields fields{.fields = {{'S', "FATAL"}}};
  EXPECT_EQ(fields.severity(), Severity::kFatal);
  EXPECT_EQ(ErrorFields{}.severity(), Severity::kUnknown);
  EXPECT_EQ(severityFromString("WARNING"), Severity::kWarning);
  EXPECT_EQ(toString(Severity::kPanic), "PANIC");
}

TEST(ErrorResponse, RefusesUnterminatedFields) {
  EXPECT_TRUE(ErrorResponse::parse(asBytes("SERROR\0"sv)).malformed());
  EXPECT_TRUE(ErrorResponse::parse(asBytes("SERROR"sv)).malformed());
  EXPECT_TRUE(ErrorResponse::parse(asBytes(""sv)).malformed());
  EXPECT_TRUE(ErrorResponse::parse(asBytes("\0\0"sv)).malformed());
  EXPECT_TRUE(ErrorResponse::parse(asBytes("\0"sv)).ok());
}

TEST(SqlState, BuildsAnErrorResponseReadyToSend) {
  std::string wire = makeErrorResponse(Severity::kFatal, sqlstate::kTooManyConnections,
                                       "sorry, too many clients already", "", "try later");
  std::string expected =
      rawMessage('E', "SFATAL\0VFATAL\0C53300\0Msorry, too many clients already\0Htry later\0\0"sv);
  EXPECT_EQ(wire, expected);
  auto split = splitFrame(asBytes(wire));
  ASSERT_EQ(split.status, FrameStatus::kReady);
  auto parsed = parseMessage<ErrorResponse>(split.frame);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->fields.severity(), Severity::kFatal);
  EXPECT_EQ(parsed->fields.sqlState(), "53300");
  EXPECT_EQ(parsed->fields.hint(), "try later");
}

TEST(SqlState, CutsTextAtNulSoFramingSurvives) {
  std::string wire = makeErrorResponse(ErrorSpec{.severity = Severity::kError,
                                                 .sqlState = sqlstate::kSyntaxError,
                                                 .message = "bad input \"a\0b\""sv,
                                                 .detail = "d"});
  auto split = splitFrame(asBytes(wire));
  ASSERT_EQ(split.status, FrameStatus::kReady);
  EXPECT_EQ(split.frame.length, wire.size());
  auto parsed = parseMessage<ErrorResponse>(split.frame);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->fields.message(), "bad input \"a");
  EXPECT_EQ(parsed->fields.detail(), "d");
}

TEST(SqlState, AppendsAfterOtherMessages) {
  std::string out;
  Writer writer(out);
  appendErrorResponse(
      writer, ErrorSpec{.sqlState = sqlstate::kAdminShutdown, .message = "terminating connection"});
  appendErrorResponse(writer, ErrorSpec{.severity = Severity::kFatal,
                                        .sqlState = sqlstate::kProtocolViolation,
                                        .message = "bad frame"});
  auto first = splitFrame(asBytes(out));
  ASSERT_EQ(first.status, FrameStatus::kReady);
  auto second = splitFrame(asBytes(out).subspan(first.frame.length));
  ASSERT_EQ(second.status, FrameStatus::kReady);
  EXPECT_EQ(first.frame.length + second.frame.length, out.size());
  EXPECT_EQ(parseMessage<ErrorResponse>(second.frame)->fields.sqlState(), "08P01");
}

TEST(SqlState, CodesAreFiveCharacters) {
  for (std::string_view code :
       {sqlstate::kProtocolViolation, sqlstate::kInvalidPassword,
        sqlstate::kInvalidAuthorizationSpecification, sqlstate::kTooManyConnections,
        sqlstate::kAdminShutdown, sqlstate::kConnectionFailure,
        sqlstate::kSqlclientUnableToEstablishSqlconnection, sqlstate::kFeatureNotSupported,
        sqlstate::kSyntaxError, sqlstate::kUndefinedObject, sqlstate::kInvalidCatalogName,
        sqlstate::kQueryCanceled, sqlstate::kReadOnlySqlTransaction,
        sqlstate::kConfigurationLimitExceeded, sqlstate::kCannotConnectNow,
        sqlstate::kInternalError}) {
    EXPECT_EQ(code.size(), 5U) << code;
  }
}

}  // namespace
}  // namespace pgswarm::protocol
