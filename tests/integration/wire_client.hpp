// A raw-socket PostgreSQL client for tests that must control every byte
// (transcripts, garbage): messages are built with protocol::Writer, cut with
// protocol::splitFrame, and login is SCRAM-SHA-256 with auth::ScramClient.
// Blocking, with deadlines on every read; for tests only, never for the pool.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgswarm::test {

// One backend message, copied out of the receive buffer.
struct WireMessage {
  char type = '\0';
  std::string body;
};

// How a read ended.
enum class WireRead : unsigned char {
  kMessage,    // a whole message arrived
  kClosed,     // the peer closed (or reset) the connection
  kTimeout,    // nothing whole arrived before the deadline
  kMalformed,  // the peer sent a frame with an impossible length
};

class WireClient {
 public:
  // Connects to 127.0.0.1:port; throws std::runtime_error when it cannot.
  explicit WireClient(int port);
  ~WireClient();
  WireClient(const WireClient&) = delete;
  WireClient& operator=(const WireClient&) = delete;

  // Writes all bytes; false when the peer is gone.
  bool send(std::string_view bytes);
  // Drops the connection at once.
  void close();
  // Sends FIN but keeps reading: "no more bytes will come".
  void shutdownWrite();

  // StartupMessage, SCRAM-SHA-256 (or trust / cleartext), then every message
  // from AuthenticationOk up to and including the first ReadyForQuery.
  // Throws std::runtime_error with the server's error when login fails.
  std::vector<WireMessage> login(
      const std::string& user, const std::string& password, const std::string& database,
      const std::vector<std::pair<std::string, std::string>>& extra = {});

  WireRead read(WireMessage& message, std::chrono::milliseconds timeout);
  // Reads until `count` ReadyForQuery messages (or a message of type `until`
  // when set) have arrived, appending everything read to `out`. Returns the
  // last read's outcome (kMessage on success).
  WireRead readUntilReady(std::vector<WireMessage>& out, int count,
                          std::chrono::milliseconds timeout,
                          std::optional<char> until = std::nullopt);
  // What the server says before it closes, or that it stayed silent: reads
  // until close or timeout (shortened to `grace` once an ErrorResponse has
  // come, since a FATAL is followed by the close at once) and returns the
  // first ErrorResponse's SQLSTATE ("" when none came) and how reading ended.
  std::pair<std::string, WireRead> awaitErrorAndClose(
      std::chrono::milliseconds timeout,
      std::chrono::milliseconds grace = std::chrono::milliseconds(1000));

 private:
  int fd_ = -1;
  std::string in_;
};

// Message builders (the protocol codec's encoders, into a string).
namespace wire {
std::string startup(const std::vector<std::pair<std::string, std::string>>& parameters);
std::string query(std::string_view sql);
std::string parse(std::string_view name, std::string_view sql, const std::vector<int>& types = {});
std::string bind(std::string_view portal, std::string_view statement,
                 const std::vector<std::optional<std::string>>& parameters);
std::string describeStatement(std::string_view name);
std::string describePortal(std::string_view name);
std::string execute(std::string_view portal, int maxRows = 0);
std::string closeStatement(std::string_view name);
std::string sync();
std::string flush();
std::string copyData(std::string_view data);
std::string copyDone();
std::string copyFail(std::string_view message);
std::string terminate();
}  // namespace wire

// The SQLSTATE of an ErrorResponse/NoticeResponse body, "" when absent.
[[nodiscard]] std::string sqlState(const WireMessage& message);

}  // namespace pgswarm::test
