// Decodes byte streams captured from real psql/pgbench <-> PostgreSQL 15
// conversations (captured_transcripts.hpp), delivered in chunks as a socket
// would, and checks every message parses and re-encodes to the same bytes.
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "captured_transcripts.hpp"
#include "protocol/authentication.hpp"
#include "protocol/backend.hpp"
#include "protocol/copy.hpp"
#include "protocol/error_response.hpp"
#include "protocol/frontend.hpp"
#include "protocol/startup.hpp"
#include "test_util.hpp"

namespace pgswarm::protocol {
namespace {

using test::encoded;

std::string fromHex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

struct CapturedFrame {
  char type;
  std::string wire;  // the whole message
  std::string body;
  [[nodiscard]] Frame frame() const { return Frame{type, wire.size(), asBytes(body)}; }
};

// Feeds `wire` to the splitter `chunk` bytes at a time, like socket reads.
std::vector<CapturedFrame> receive(std::string_view wire, std::size_t chunk, bool startup) {
  std::vector<CapturedFrame> frames;
  std::string buffer;
  std::size_t offered = 0;
  while (offered < wire.size() || !buffer.empty()) {
    auto result = startup ? splitStartupFrame(asBytes(buffer)) : splitFrame(asBytes(buffer));
    if (result.status == FrameStatus::kNeedMore) {
      EXPECT_LT(offered, wire.size()) << "stream ends inside a message";
      if (offered >= wire.size()) break;
      buffer.append(wire.substr(offered, chunk));
      offered += std::min(chunk, wire.size() - offered);
      continue;
    }
    EXPECT_EQ(result.status, FrameStatus::kReady) << result.reason;
    if (result.status != FrameStatus::kReady) break;
    const Frame& frame = result.frame;
    frames.push_back({frame.type, buffer.substr(0, frame.length), std::string(asText(frame.body))});
    buffer.erase(0, frame.length);
    startup = false;
  }
  return frames;
}

template <typename M>
M expectParsed(const CapturedFrame& captured) {
  auto parsed = parseMessage<M>(captured.frame());
  EXPECT_TRUE(parsed.ok()) << captured.type << ": " << parsed.error().reason;
  if (!parsed.ok()) return M{};
  EXPECT_EQ(encoded(*parsed), captured.wire) << "re-encoding of '" << captured.type << "'";
  return *parsed;
}

bool startsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

class Transcript : public ::testing::TestWithParam<std::size_t> {};

TEST_P(Transcript, PsqlClientStream) {
  std::string wire = fromHex(test::kPsqlClientHex);
  auto frames = receive(wire, GetParam(), /*startup=*/true);
  ASSERT_EQ(frames.size(), 5U);

  auto startup = StartupMessage::parse(asBytes(frames[0].body));
  ASSERT_TRUE(startup.ok()) << startup.error().reason;
  EXPECT_EQ(encoded(*startup), frames[0].wire);
  EXPECT_EQ(startup->protocolVersion, kProtocolVersion3);
  EXPECT_EQ(startup->user(), "postgres");
  EXPECT_EQ(startup->database(), "postgres");
  EXPECT_EQ(*startup->find("application_name"), "psql");

  auto first = expectParsed<SaslInitialResponse>(frames[1]);
  EXPECT_EQ(first.mechanism, "SCRAM-SHA-256");
  ASSERT_TRUE(first.data.has_value());
  EXPECT_TRUE(startsWith(*first.data, "n,,n=,r="));
  EXPECT_TRUE(startsWith(expectParsed<SaslResponse>(frames[2]).data, "c=biws,r="));
  EXPECT_EQ(expectParsed<Query>(frames[3]).sql, "select 1 as one, null::text as two");
  expectParsed<Terminate>(frames[4]);
}

TEST_P(Transcript, PsqlServerStream) {
  std::string wire = fromHex(test::kPsqlServerHex);
  auto frames = receive(wire, GetParam(), /*startup=*/false);
  std::string types;
  for (const auto& frame : frames) types.push_back(frame.type);
  // PostgreSQL 15 reports 13 GUC_REPORT parameters at startup.
  ASSERT_EQ(types, "RRRR" + std::string(13, 'S') + "KZTDCZ");

  EXPECT_EQ(expectParsed<AuthenticationSasl>(frames[0]).mechanisms,
            std::vector<std::string_view>{"SCRAM-SHA-256"});
  auto server_first = expectParsed<AuthenticationSaslContinue>(frames[1]);
  EXPECT_NE(server_first.data.find(",i=4096"), std::string_view::npos);
  EXPECT_TRUE(startsWith(expectParsed<AuthenticationSaslFinal>(frames[2]).data, "v="));
  expectParsed<AuthenticationOk>(frames[3]);
  bool saw_version = false;
  for (std::size_t i = 4; i < 17; ++i) {
    auto status = expectParsed<ParameterStatus>(frames[i]);
    if (status.name == "server_version") saw_version = startsWith(status.value, "15.");
  }
  EXPECT_TRUE(saw_version);
  expectParsed<BackendKeyData>(frames[17]);
  EXPECT_EQ(expectParsed<ReadyForQuery>(frames[18]).status, TransactionStatus::kIdle);

  auto row = expectParsed<RowDescription>(frames[19]);
  ASSERT_EQ(row.fields.size(), 2U);
  EXPECT_EQ(row.fields[0].name, "one");
  EXPECT_EQ(row.fields[0].typeOid, 23);  // int4
  EXPECT_EQ(row.fields[0].typeSize, 4);
  EXPECT_EQ(row.fields[1].name, "two");
  EXPECT_EQ(row.fields[1].typeOid, 25);  // text
  EXPECT_EQ(row.fields[1].typeSize, -1);
  auto data = expectParsed<DataRow>(frames[20]);
  ASSERT_EQ(data.columns.size(), 2U);
  EXPECT_EQ(data.columns[0], std::optional<std::string_view>("1"));
  EXPECT_EQ(data.columns[1], std::nullopt);
  EXPECT_EQ(expectParsed<CommandComplete>(frames[21]).tag, "SELECT 1");
  EXPECT_EQ(expectParsed<ReadyForQuery>(frames[22]).status, TransactionStatus::kIdle);
}

TEST_P(Transcript, ExtendedQueryStreams) {
  auto client = receive(fromHex(test::kExtendedClientHex), GetParam(), false);
  ASSERT_EQ(client.size(), 5U);
  auto parse = expectParsed<Parse>(client[0]);
  EXPECT_EQ(parse.statement, "");
  EXPECT_EQ(parse.sql, "select $1::int as n;");
  auto bind = expectParsed<Bind>(client[1]);
  ASSERT_EQ(bind.parameters.size(), 1U);
  EXPECT_EQ(bind.parameters[0], std::optional<std::string_view>("7"));
  EXPECT_EQ(bind.resultFormats, std::vector<std::int16_t>{0});
  EXPECT_EQ(expectParsed<Describe>(client[2]).kind, ObjectKind::kPortal);
  EXPECT_EQ(expectParsed<Execute>(client[3]).maxRows, 0);
  expectParsed<Sync>(client[4]);

  auto server = receive(fromHex(test::kExtendedServerHex), GetParam(), false);
  ASSERT_EQ(server.size(), 6U);
  expectParsed<ParseComplete>(server[0]);
  expectParsed<BindComplete>(server[1]);
  EXPECT_EQ(expectParsed<RowDescription>(server[2]).fields.at(0).name, "n");
  EXPECT_EQ(expectParsed<DataRow>(server[3]).columns.at(0), std::optional<std::string_view>("7"));
  EXPECT_EQ(expectParsed<CommandComplete>(server[4]).tag, "SELECT 1");
  expectParsed<ReadyForQuery>(server[5]);
}

TEST_P(Transcript, ErrorResponseFromTheServer) {
  auto client = receive(fromHex(test::kErrorQueryHex), GetParam(), false);
  ASSERT_EQ(client.size(), 1U);
  EXPECT_EQ(expectParsed<Query>(client[0]).sql, "select * from nope");
  auto server = receive(fromHex(test::kErrorServerHex), GetParam(), false);
  ASSERT_EQ(server.size(), 2U);
  auto error = expectParsed<ErrorResponse>(server[0]);
  EXPECT_EQ(error.fields.severity(), Severity::kError);
  EXPECT_EQ(error.fields.sqlState(), "42P01");
  EXPECT_EQ(error.fields.message(), "relation \"nope\" does not exist");
  EXPECT_EQ(error.fields.position(), std::optional<std::string_view>("15"));
  EXPECT_EQ(expectParsed<ReadyForQuery>(server[1]).status, TransactionStatus::kIdle);
}

INSTANTIATE_TEST_SUITE_P(ChunkSizes, Transcript, ::testing::Values(1, 3, 7, 64, 100000));

}  // namespace
}  // namespace pgswarm::protocol
