// One connection from the pool to a PostgreSQL server: TCP connect, TLS as
// server_tls_sslmode asks (SSLRequest, then the handshake), startup
// packet with the client's parameters, authentication as a client (SCRAM from
// a password or from keys recovered from the client's own SCRAM login, md5,
// cleartext), then the ParameterStatus set and BackendKeyData the server sent.
// Relaying bytes after login is the proxy's job, not this file's.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <variant>
#include <vector>

#include <asio.hpp>

#include "auth/scram_secret.hpp"
#include "protocol/startup.hpp"
#include "runtime/byte_buffer.hpp"
#include "runtime/server_stream.hpp"
#include "runtime/stream.hpp"

namespace pgswarm::pool {

// `host` is a name or an address, or (libpq's convention) the directory of
// the server's unix socket when it starts with '/': /var/run/postgresql
// with port 5432 is /var/run/postgresql/.s.PGSQL.5432.
// `socketDir` (pool.server_socket_dirs) is a route, not a name: for a node
// on the pool's own host, connections and cancels go through
// <socketDir>/.s.PGSQL.<port>, and over TCP to host:port when that fails.
// Who the node is stays host:port: equality ignores the route, and health
// checks, failover, the shard map and every name never see it.
struct ServerAddress {
  std::string host;
  int port = 5432;
  std::string socketDir;
  bool operator==(const ServerAddress& other) const {
    return host == other.host && port == other.port;
  }
  [[nodiscard]] bool unixSocket() const { return !host.empty() && host.front() == '/'; }
};

// libpq's sslmode, for the pool's connections to servers (server_tls_sslmode),
// in increasing strictness (code compares them). A unix socket never uses
// TLS, whatever the mode (as in libpq).
enum class SslMode {
  kDisable,     // plain; no SSLRequest
  kAllow,       // plain; TLS only when the server refuses the plain login
  kPrefer,      // TLS when the server agrees to it, else plain
  kRequire,     // TLS or no connection; the certificate is not checked
  kVerifyCa,    // TLS, and the certificate must chain to server_tls_ca_file
  kVerifyFull,  // as verify-ca, and it must be for the host name or address connected to
};
[[nodiscard]] const char* toString(SslMode mode);

// One server_tls_* setting: the mode, and the client context
// (runtime::makeTlsClientContext), null only when the mode is disable.
struct ServerTlsSettings {
  SslMode mode = SslMode::kDisable;
  std::shared_ptr<asio::ssl::context> context;
};

// What the pool's server connections do about TLS. Copies share one
// setting, which RELOAD replaces: a connection takes the current one when
// it is opened and its stream keeps that context, so connections already
// open keep theirs.
class ServerTls {
 public:
  [[nodiscard]] ServerTlsSettings current() const;
  void replace(ServerTlsSettings settings);

 private:
  struct Shared {
    mutable std::mutex mutex;
    ServerTlsSettings settings;
  };
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

// How the pool proves who it is to the server for one user.
struct ServerCredentials {
  std::string password;                            // plaintext, when known
  std::string md5Secret;                           // "md5..." stored form: answers md5 only
  std::optional<auth::ScramClientKeys> scramKeys;  // from a client's SCRAM login
};

using Parameters = std::vector<protocol::StartupParameter>;
// One copy of a set, shared by the connections opened with it and the
// clients that sent it (ParameterSets interns them per worker): an idle
// connection's match is then mostly a pointer compare.
using SharedParameters = std::shared_ptr<const Parameters>;

// Where a cancel for a query running on one server connection must go.
struct CancelTarget {
  ServerAddress address;
  std::int32_t backendPid = 0;
  std::int32_t backendSecret = 0;
};

// Why a connection could not be made. When the server itself refused (FATAL
// at login), `serverError` holds its ErrorResponse so the client sees the
// server's own message and SQLSTATE.
struct ConnectFailure {
  std::string message;
  std::string serverError;  // raw ErrorResponse message bytes, or empty
};

class ServerConnection {
 public:
  ServerConnection(runtime::ServerSocket socket, ServerAddress address)
      : stream_(std::move(socket)), address_(std::move(address)) {}

  // Every byte to and from the server goes through stream() (plain or TLS);
  // socket() is the socket under it, for endpoints and cancel().
  [[nodiscard]] runtime::ServerStream& stream() { return stream_; }
  [[nodiscard]] runtime::ServerSocket& socket() { return stream_.socket(); }
  [[nodiscard]] const runtime::ServerSocket& socket() const { return stream_.socket(); }
  // "TLSv1.3/TLS_AES_256_GCM_SHA384", or empty for a plain connection.
  [[nodiscard]] const std::string& tlsDescription() const { return stream_.tlsDescription(); }
  [[nodiscard]] runtime::ByteBuffer& input() { return input_; }
  [[nodiscard]] const ServerAddress& address() const { return address_; }
  // ParameterStatus values, updated by the relay when the server reports changes.
  [[nodiscard]] Parameters& parameters() { return parameters_; }
  [[nodiscard]] const Parameters& startupParameters() const { return *startup_; }
  // Whether it was opened with `startup`: the same shared set, or an equal one.
  [[nodiscard]] bool startedWith(const Parameters& startup) const {
    return startup_.get() == &startup || *startup_ == startup;
  }
  [[nodiscard]] std::int32_t backendPid() const { return backendPid_; }
  [[nodiscard]] std::int32_t backendSecret() const { return backendSecret_; }
  // One immutable copy per connection, made on first use, that cancel slots
  // share across threads (a client attaching does not copy the address).
  [[nodiscard]] const std::shared_ptr<const CancelTarget>& cancelTarget();

  [[nodiscard]] std::chrono::steady_clock::time_point createdAt() const { return createdAt_; }
  std::chrono::steady_clock::time_point lastUsed;
  std::uint64_t id = 0;
  // Server-wide statement names prepared on this connection by the proxy
  // (transaction mode; see proxy/prepared_statements.hpp).
  std::unordered_set<std::string> preparedStatements;
  // Transaction mode: the settings key (proxy/state_tracker.hpp) this
  // connection was last brought to; empty for a server's own defaults.
  std::string appliedSettings;

  // A ParameterStatus the server sent after login.
  void setParameter(std::string_view name, std::string_view value);

  void close();
  [[nodiscard]] bool isOpen() const { return socket().is_open(); }
  // For an idle connection, where the server has nothing to say: true when
  // it said something anyway or hung up (FATAL from pg_terminate_backend, a
  // restart), or when the socket is closed. Never blocks. A TLS connection
  // may read what is pending into input() to find out (runtime::ServerStream::
  // quiet); such a connection is closed, never used again.
  [[nodiscard]] bool closedByServer();

 private:
  // One connection and login (server_connection.cpp); connectServer may
  // make two under sslmode allow.
  friend asio::awaitable<std::variant<std::unique_ptr<ServerConnection>, ConnectFailure>>
  connectAndLogin(asio::any_io_executor, const ServerAddress&, SharedParameters, ServerCredentials,
                  const ServerTlsSettings&, bool, std::chrono::steady_clock::time_point);

  runtime::ServerStream stream_;
  ServerAddress address_;
  runtime::ByteBuffer input_;
  SharedParameters startup_;
  Parameters parameters_;
  std::int32_t backendPid_ = 0;
  std::int32_t backendSecret_ = 0;
  std::shared_ptr<const CancelTarget> cancelTarget_;
  std::chrono::steady_clock::time_point createdAt_ = std::chrono::steady_clock::now();
};

using ConnectResult = std::variant<std::unique_ptr<ServerConnection>, ConnectFailure>;

// Connects, negotiates TLS as `tls` says now, logs in and reads up to the first
// ReadyForQuery, within `timeout`.
[[nodiscard]] asio::awaitable<ConnectResult> connectServer(
    asio::any_io_executor executor, ServerAddress address, SharedParameters startup,
    ServerCredentials credentials, ServerTls tls, std::chrono::milliseconds timeout);

// What a query the pool itself runs on a server connection came to.
struct InternalQueryOutcome {
  bool usable = true;         // the connection answered ReadyForQuery and holds nothing else
  std::string errorResponse;  // raw bytes of the first ErrorResponse, or empty
};

// Runs `sql` as one simple Query on a connection at ReadyForQuery, reads to
// the next ReadyForQuery within `timeout`, swallowing the results;
// ParameterStatus messages update the connection's parameters.
[[nodiscard]] asio::awaitable<InternalQueryOutcome> runInternalQuery(
    ServerConnection& conn, std::string_view sql, std::chrono::milliseconds timeout);

// Sends a CancelRequest for (pid, secret) to `address` on a new connection,
// inside TLS when `tls` would use it for a login (the secret stays private).
[[nodiscard]] asio::awaitable<void> sendCancelRequest(asio::any_io_executor executor,
                                                      ServerAddress address, ServerTls tls,
                                                      std::int32_t pid, std::int32_t secret);

}  // namespace pgswarm::pool
