// Backend messages: round trip of each type (NeedMore at every cut,
// Malformed for short or long bodies), exact fixed sizes, and the value
// checks (transaction status, counts, NULL columns).
#include "protocol/backend.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace pgswarm::protocol {
namespace {

using namespace std::literals;
using test::expectRoundTrip;
using test::int16Bytes;
using test::int32Bytes;
using test::rawMessage;

TEST(Backend, BackendKeyDataRoundTrips) {
  expectRoundTrip(BackendKeyData{.processId = 31337, .secretKey = -123456789});
  EXPECT_EQ(test::encoded(BackendKeyData{.processId = 1, .secretKey = 2}),
            rawMessage('K', int32Bytes(1) + int32Bytes(2)));
}

TEST(Backend, ParameterStatusRoundTrips) {
  expectRoundTrip(ParameterStatus{.name = "server_version", .value = "15.6"});
  expectRoundTrip(ParameterStatus{.name = "application_name", .value = ""});
}

TEST(Backend, ReadyForQueryRoundTripsEveryStatus) {
  for (auto status :
       {TransactionStatus::kIdle, TransactionStatus::kInTransaction, TransactionStatus::kFailed}) {
    expectRoundTrip(ReadyForQuery{.status = status});
  }
  EXPECT_EQ(test::encoded(ReadyForQuery{.status = TransactionStatus::kFailed}),
            rawMessage('Z', "E"));
  EXPECT_TRUE(ReadyForQuery::parse(asBytes("X"sv)).malformed());
  std::string out;
  Writer writer(out);
  EXPECT_EQ((ReadyForQuery{.status = static_cast<TransactionStatus>('?')}.encode(writer)),
            EncodeStatus::kInvalidValue);
}

TEST(Backend, CommandCompleteRoundTrips) {
  expectRoundTrip(CommandComplete{.tag = "INSERT 0 1"});
  expectRoundTrip(CommandComplete{.tag = "SELECT 5"});
}

TEST(Backend, EmptyMessagesRoundTrip) {
  expectRoundTrip(EmptyQueryResponse{});
  expectRoundTrip(ParseComplete{});
  expectRoundTrip(BindComplete{});
  expectRoundTrip(CloseComplete{});
  expectRoundTrip(NoData{});
  expectRoundTrip(PortalSuspended{});
}

TEST(Backend, ParameterDescriptionRoundTrips) {
  expectRoundTrip(ParameterDescription{.parameterTypes = {23, 25, 1043}});
  expectRoundTrip(ParameterDescription{});
}

TEST(Backend, RowDescriptionRoundTrips) {
  expectRoundTrip(RowDescription{
      .fields = {
          {.name = "id",
           .tableOid = 16384,
           .columnNumber = 1,
           .typeOid = 23,
           .typeSize = 4,
           .typeModifier = -1,
           .format = 0},
          {.name = "", .typeOid = 1043, .typeSize = -1, .typeModifier = 68, .format = 1},
      }});
  expectRoundTrip(RowDescription{});
}

TEST(Backend, RowDescriptionRefusesImpossibleCount) {
  std::string body = int16Bytes(3) + std::string(40, '\0');  // 3 fields need >= 57 bytes
  EXPECT_TRUE(RowDescription::parse(asBytes(body)).malformed());
  EXPECT_TRUE(RowDescription::parse(asBytes(int16Bytes(-5))).malformed());
}

TEST(Backend, DataRowRoundTrips) {
  expectRoundTrip(DataRow{.columns = {"1"sv, std::nullopt, ""sv, "\0\x7f"sv}});
  expectRoundTrip(DataRow{});
}

TEST(Backend, DataRowRefusesBadColumnLengths) {
  EXPECT_TRUE(DataRow::parse(asBytes(int16Bytes(1) + int32Bytes(-3))).malformed());
  EXPECT_TRUE(DataRow::parse(asBytes(int16Bytes(1) + int32Bytes(INT32_MAX) + "x")).malformed());
  EXPECT_TRUE(DataRow::parse(asBytes(int16Bytes(2) + int32Bytes(-1))).malformed());
}

TEST(Backend, NotificationResponseRoundTrips) {
  expectRoundTrip(NotificationResponse{.processId = 77, .channel = "jobs", .payload = "42"});
  expectRoundTrip(NotificationResponse{.processId = 1, .channel = "c", .payload = ""});
}

TEST(Backend, NegotiateProtocolVersionRoundTrips) {
  expectRoundTrip(NegotiateProtocolVersion{.newestMinorVersion = 0,
                                           .unrecognizedOptions = {"_pq_.compression", "_pq_.x"}});
  expectRoundTrip(NegotiateProtocolVersion{.newestMinorVersion = 0});
  std::string lying = int32Bytes(0) + int32Bytes(1000000) + "_pq_.a\0"s;
  EXPECT_TRUE(NegotiateProtocolVersion::parse(asBytes(lying)).malformed());
  std::string negative = int32Bytes(0) + int32Bytes(-1);
  EXPECT_TRUE(NegotiateProtocolVersion::parse(asBytes(negative)).malformed());
}

}  // namespace
}  // namespace pgswarm::protocol
