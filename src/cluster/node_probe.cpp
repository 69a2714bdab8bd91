// Node probing for the health monitor: see node_probe.hpp. libpq is driven
// in non-blocking mode (PQconnectStartParams/PQconnectPoll, PQsendQuery) and
// every wait is a poll() on the connection's socket plus the wake descriptor,
// so timeouts have millisecond precision (libpq's own connect_timeout counts
// in whole seconds with a 2-second minimum) and stop() never waits on a node.
#include "cluster/node_probe.hpp"

#include <poll.h>

#include <libpq-fe.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace pgswarm::cluster {
namespace {

using Clock = std::chrono::steady_clock;

// One round trip, only functions any role may execute, evaluated against one
// reading of pg_is_in_recovery() (the FROM subquery is volatile, so it is not
// pulled up and runs once). Timeline: a primary's comes from its current WAL
// file name. A replica's from pg_stat_wal_receiver.received_tli, which
// PostgreSQL shows only to superusers and members of pg_read_all_stats (and
// which is absent while no WAL receiver runs); otherwise from the last
// restartpoint, which is right except for a while after a timeline switch.
// Replay delay is 0 when all that was received is replayed, so an idle
// primary does not make its replicas look late. A restarted replica's WAL
// receiver reports the start of the segment it streams from, behind what
// recovery already replayed: that is caught up too.
constexpr const char* kProbeQuery = R"sql(
SELECT r,
       CASE WHEN r THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver),
                                 (SELECT timeline_id FROM pg_control_checkpoint()))
            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint
       END,
       CASE WHEN NOT r THEN pg_current_wal_lsn() END,
       pg_last_wal_receive_lsn(),
       pg_last_wal_replay_lsn(),
       CASE WHEN r THEN pg_is_wal_replay_paused() END,
       CASE WHEN NOT r THEN NULL
            WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())
       END,
       CASE WHEN NOT r THEN pg_current_wal_insert_lsn() END,
       w.status,
       extract(epoch FROM now() - w.last_msg_receipt_time),
       w.sender_host || ':' || w.sender_port,
       current_setting('cluster_name'),
       current_setting('default_transaction_read_only')::bool
FROM (SELECT pg_is_in_recovery() AS r) AS state
     LEFT JOIN pg_stat_wal_receiver AS w ON r
)sql";
constexpr int kProbeColumns = 13;

// libpq messages end with a newline and may span lines (one per address tried).
std::string oneLine(const char* message) {
  std::string text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  std::string out;
  out.reserve(text.size());
  bool lineStart = false;
  for (char c : text) {
    if (c == '\n') {
      out += "; ";
      lineStart = true;
    } else if (!(lineStart && (c == ' ' || c == '\t'))) {
      out += c;
      lineStart = false;
    }
  }
  return out;
}

// The SQLSTATE libpq shows at verbose verbosity ("FATAL:  28P01: ...").
std::string_view sqlStateIn(std::string_view message) {
  for (std::string_view severity : {"FATAL:  ", "ERROR:  "}) {
    auto at = message.find(severity);
    if (at == std::string_view::npos) continue;
    auto code = message.substr(at + severity.size(), 6);
    if (code.size() == 6 && code[5] == ':') return code.substr(0, 5);
  }
  return {};
}

// The server is up and said no to this login: wrong or missing password,
// a role or pg_hba rule that does not admit it, a database that is not there.
bool loginRefused(PGconn* conn, std::string_view message) {
  if (PQconnectionNeedsPassword(conn) != 0) return true;
  auto code = sqlStateIn(message);
  return code.starts_with("28") || code == "3D000";
}

// Verbose messages carry the SQLSTATE (kept) and the server's source
// location (of no use to an operator).
std::string connectError(PGconn* conn) {
  std::string_view message = PQerrorMessage(conn);
  auto location = message.find("\nLOCATION:");
  return oneLine(std::string(message.substr(0, location)).c_str());
}

struct ResultCloser {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultCloser>;

enum class Wait : unsigned char {
  kReady,    // the socket is ready (or in error: libpq will say which)
  kTimeout,  // the deadline passed first
  kWoken,    // the wake descriptor fired
  kFailed,   // poll() itself failed or there is no socket
};

Wait waitFor(int socket, short events, int wakeFd, Clock::time_point deadline) {
  if (socket < 0) return Wait::kFailed;
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Wait::kTimeout;
    pollfd fds[2] = {{.fd = socket, .events = events, .revents = 0},
                     {.fd = wakeFd, .events = POLLIN, .revents = 0}};
    int ready = ::poll(fds, wakeFd >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Wait::kFailed;
    }
    if (wakeFd >= 0 && fds[1].revents != 0) return Wait::kWoken;
    if (fds[0].revents != 0) return Wait::kReady;
  }
}

// Sends a cancel request without making the probing thread wait for it.
// libpq 15's PQcancel blocks: it connects, sends, then waits for the server
// to close; a stopped (SIGSTOP) or black-holed postmaster would hold it for
// as long as TCP keeps trying, and stop() must not. So it runs on a detached
// thread that owns everything it touches (the PGcancel copy and a flag shared
// with the probe), at most one per node: while one is still out, a further
// timeout only drops its connection. tcp_user_timeout on the connection
// (inherited by PQcancel) bounds the cancel's own connect on a dead host.
void cancelDetached(PGconn* conn, const std::shared_ptr<std::atomic<bool>>& inFlight) {
  if (inFlight->exchange(true)) return;
  PGcancel* cancel = PQgetCancel(conn);
  if (cancel == nullptr) {
    inFlight->store(false);
    return;
  }
  try {
    std::thread([cancel, inFlight] {
      char error[256];
      (void)PQcancel(cancel, error, sizeof(error));
      PQfreeCancel(cancel);
      inFlight->store(false);
    }).detach();
  } catch (const std::system_error&) {
    // No thread to be had: the connection is dropped all the same.
    PQfreeCancel(cancel);
    inFlight->store(false);
  }
}

template <typename Number>
bool parseNumber(const char* text, Number& out) {
  const char* end = text + std::char_traits<char>::length(text);
  auto [ptr, ec] = std::from_chars(text, end, out);
  return ec == std::errc() && ptr == end;
}

// The probe's single row as a reading, or why it is not one.
// pg_current_wal_insert_lsn() at a page boundary points past the page
// header that the next record will follow, while a replica's replay
// position is the end of the last record: without this a replica of an
// idle primary would stay 24 (or, at a segment start, 40) bytes "behind"
// for ever. Default WAL block and segment sizes.
Lsn recordEnd(Lsn insert) {
  constexpr Lsn kBlock = 8192;
  constexpr Lsn kSegment = 16 * 1024 * 1024;
  constexpr Lsn kShortHeader = 24;
  constexpr Lsn kLongHeader = 40;
  if (insert % kSegment == kLongHeader) return insert - kLongHeader;
  if (insert % kBlock == kShortHeader) return insert - kShortHeader;
  return insert;
}

std::optional<std::string> readRow(const PGresult* result, ProbeReading& reading) {
  if (PQntuples(result) != 1 || PQnfields(result) != kProbeColumns) {
    return fmt::format("{} rows of {} columns", PQntuples(result), PQnfields(result));
  }
  auto value = [&](int column) -> const char* {
    return PQgetisnull(result, 0, column) ? nullptr : PQgetvalue(result, 0, column);
  };
  auto lsn = [&](int column, std::optional<Lsn>& out) -> bool {
    const char* text = value(column);
    if (text == nullptr) return true;
    out = parseLsn(text);
    return out.has_value();
  };
  const char* recovering = value(0);
  if (recovering == nullptr) return "pg_is_in_recovery() is NULL";
  reading.role = recovering[0] == 't' ? NodeRole::kReplica : NodeRole::kPrimary;
  const char* timeline = value(1);
  if (timeline == nullptr || !parseNumber(timeline, reading.timeline)) {
    return fmt::format("timeline '{}'", timeline != nullptr ? timeline : "NULL");
  }
  if (!lsn(2, reading.currentLsn)) return fmt::format("current LSN '{}'", value(2));
  if (!lsn(3, reading.receiveLsn)) return fmt::format("receive LSN '{}'", value(3));
  if (!lsn(4, reading.replayLsn)) return fmt::format("replay LSN '{}'", value(4));
  const char* paused = value(5);
  reading.replayPaused = paused != nullptr && paused[0] == 't';
  if (const char* delay = value(6)) {
    double seconds = 0;
    if (!parseNumber(delay, seconds)) return fmt::format("replay delay '{}'", delay);
    // now() on the replica minus a commit time stamped by the primary:
    // clock skew can make it negative, which means "no delay".
    reading.replayDelaySeconds = seconds > 0 ? seconds : 0.0;
  }
  if (!lsn(7, reading.insertLsn)) return fmt::format("insert LSN '{}'", value(7));
  if (reading.insertLsn) reading.insertLsn = recordEnd(*reading.insertLsn);
  if (const char* status = value(8)) reading.receiverStatus = status;
  if (const char* silence = value(9)) {
    double seconds = 0;
    if (!parseNumber(silence, seconds)) return fmt::format("receiver silence '{}'", silence);
    reading.receiverSilenceSeconds = std::max(seconds, 0.0);
  }
  if (const char* upstream = value(10)) reading.upstream = upstream;
  if (const char* name = value(11)) reading.clusterName = name;
  const char* readOnly = value(12);
  reading.readOnly = readOnly != nullptr && readOnly[0] == 't';
  return std::nullopt;
}

ProbeOutcome failed(ProbeFailure failure, std::string error) {
  return ProbeOutcome{.failure = failure, .reading = std::nullopt, .error = std::move(error)};
}

}  // namespace

const char* toString(ProbeFailure failure) {
  switch (failure) {
    case ProbeFailure::kNone:
      return "none";
    case ProbeFailure::kConnect:
      return "connect";
    case ProbeFailure::kLogin:
      return "login refused";
    case ProbeFailure::kConnectTimeout:
      return "connect timeout";
    case ProbeFailure::kQuery:
      return "query";
    case ProbeFailure::kQueryTimeout:
      return "query timeout";
    case ProbeFailure::kBadAnswer:
      return "bad answer";
    case ProbeFailure::kStopped:
      return "stopped";
  }
  return "unknown";
}

NodeProbe::NodeProbe(MonitoredNode node, const HealthMonitorOptions& options, int wakeFd)
    : node_(std::move(node)),
      options_(options),
      wakeFd_(wakeFd),
      cancelInFlight_(std::make_shared<std::atomic<bool>>(false)) {}

NodeProbe::~NodeProbe() {
  drop();
}

void NodeProbe::drop() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

std::string NodeProbe::label() const {
  std::string address = fmt::format("{}:{}", node_.host, node_.port);
  return node_.name == address ? "node " + address
                               : fmt::format("node {} ({})", node_.name, address);
}

ProbeOutcome NodeProbe::probe() {
  bool reused = conn_ != nullptr;
  if (!reused) {
    auto connected = connect();
    if (connected.failure != ProbeFailure::kNone) return connected;
  }
  auto answer = query();
  if (reused && answer.failure == ProbeFailure::kQuery && conn_ == nullptr) {
    auto connected = connect();
    if (connected.failure != ProbeFailure::kNone) return connected;
    answer = query();
  }
  return answer;
}

ProbeOutcome NodeProbe::connect() {
  drop();
  auto deadline = Clock::now() + options_.connectTimeout;
  std::string port = std::to_string(node_.port);
  // Bounds a write to (and PQcancel's connect to) a peer that stopped
  // answering: kernel retransmissions give up after this long.
  std::string userTimeout = std::to_string(
      std::max<std::int64_t>(options_.connectTimeout.count(), options_.queryTimeout.count()));
  std::vector<const char*> keys{
      "host", "port", "user", "dbname", "application_name", "tcp_user_timeout"};
  std::vector<const char*> values{node_.host.c_str(),
                                  port.c_str(),
                                  options_.user.c_str(),
                                  options_.dbname.c_str(),
                                  options_.applicationName.c_str(),
                                  userTimeout.c_str()};
  if (!options_.password.empty()) {
    keys.push_back("password");
    values.push_back(options_.password.c_str());
  }
  for (const auto& [key, value] : options_.tlsKeywords) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  // Keywords and values, never a conninfo string: nothing to quote, and the
  // password never passes through a string that could end up in a log.
  conn_ = PQconnectStartParams(keys.data(), values.data(), 0);
  if (conn_ == nullptr) return failed(ProbeFailure::kConnect, label() + ": connect: out of memory");
  if (PQstatus(conn_) == CONNECTION_BAD) {
    auto error = fmt::format("{}: connect failed: {}", label(), oneLine(PQerrorMessage(conn_)));
    drop();
    return failed(ProbeFailure::kConnect, std::move(error));
  }
  // For the SQLSTATE of a refused login, which tells it from a node down.
  PQsetErrorVerbosity(conn_, PQERRORS_VERBOSE);
  // As the libpq manual says: before the first PQconnectPoll, act as if it
  // had asked to wait for writing.
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (state != PGRES_POLLING_OK) {
    if (state == PGRES_POLLING_FAILED) {
      auto message = connectError(conn_);
      auto kind = loginRefused(conn_, message) ? ProbeFailure::kLogin : ProbeFailure::kConnect;
      auto error = fmt::format("{}: connect failed: {}", label(), message);
      drop();
      return failed(kind, std::move(error));
    }
    // The socket can change between calls (next address, SSL refused).
    short events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    switch (waitFor(PQsocket(conn_), events, wakeFd_, deadline)) {
      case Wait::kReady:
        break;
      case Wait::kTimeout:
        drop();
        return failed(ProbeFailure::kConnectTimeout,
                      fmt::format("{}: connect timed out after {} ms", label(),
                                  options_.connectTimeout.count()));
      case Wait::kWoken:
        drop();
        return failed(ProbeFailure::kStopped, label() + ": stopped while connecting");
      case Wait::kFailed:
        drop();
        return failed(ProbeFailure::kConnect,
                      fmt::format("{}: connect failed: poll: {}", label(), std::strerror(errno)));
    }
    state = PQconnectPoll(conn_);
  }
  if (PQsetnonblocking(conn_, 1) != 0) {
    auto error = fmt::format("{}: connect failed: {}", label(), oneLine(PQerrorMessage(conn_)));
    drop();
    return failed(ProbeFailure::kConnect, std::move(error));
  }
  return ProbeOutcome{};
}

ProbeOutcome NodeProbe::query() {
  ProbeReading reading;
  reading.sentAt = Clock::now();
  auto deadline = reading.sentAt + options_.queryTimeout;
  // A failed query drops the connection only when libpq says it is broken;
  // an SQL error (say, promotion in the middle of the query) leaves a usable one.
  auto queryFailed = [&](ProbeFailure failure, std::string what) {
    if (PQstatus(conn_) != CONNECTION_OK) drop();
    return failed(failure, fmt::format("{}: probe query failed: {}", label(), what));
  };
  auto timedOut = [&] {
    cancelDetached(conn_, cancelInFlight_);
    drop();
    return failed(
        ProbeFailure::kQueryTimeout,
        fmt::format("{}: probe query timed out after {} ms (cancelled, connection dropped)",
                    label(), options_.queryTimeout.count()));
  };
  auto stopped = [&] {
    drop();
    return failed(ProbeFailure::kStopped, label() + ": stopped during the probe query");
  };
  auto waitOrFail = [&](short events) -> std::optional<ProbeOutcome> {
    switch (waitFor(PQsocket(conn_), events, wakeFd_, deadline)) {
      case Wait::kReady:
        return std::nullopt;
      case Wait::kTimeout:
        return timedOut();
      case Wait::kWoken:
        return stopped();
      case Wait::kFailed:
        drop();
        return failed(ProbeFailure::kQuery, fmt::format("{}: probe query failed: poll: {}", label(),
                                                        std::strerror(errno)));
    }
    return std::nullopt;
  };

  if (PQsendQuery(conn_, kProbeQuery) == 0) {
    return queryFailed(ProbeFailure::kQuery, oneLine(PQerrorMessage(conn_)));
  }
  for (;;) {
    int flushed = PQflush(conn_);
    if (flushed == 0) break;
    if (flushed < 0) return queryFailed(ProbeFailure::kQuery, oneLine(PQerrorMessage(conn_)));
    if (auto outcome = waitOrFail(POLLOUT | POLLIN)) return std::move(*outcome);
    // Read what the server sent meanwhile, or it may never drain our query.
    if (PQconsumeInput(conn_) == 0) {
      return queryFailed(ProbeFailure::kQuery, oneLine(PQerrorMessage(conn_)));
    }
  }

  ResultPtr row;
  std::string sqlError;
  for (;;) {
    while (PQisBusy(conn_) != 0) {
      if (auto outcome = waitOrFail(POLLIN)) return std::move(*outcome);
      if (PQconsumeInput(conn_) == 0) {
        return queryFailed(ProbeFailure::kQuery, oneLine(PQerrorMessage(conn_)));
      }
    }
    ResultPtr result(PQgetResult(conn_));
    if (!result) break;
    auto status = PQresultStatus(result.get());
    if (status == PGRES_TUPLES_OK && !row) {
      row = std::move(result);
    } else if (status != PGRES_TUPLES_OK && sqlError.empty()) {
      sqlError = status == PGRES_FATAL_ERROR ? oneLine(PQresultErrorMessage(result.get()))
                                             : std::string("unexpected ") + PQresStatus(status);
    }
  }
  if (!sqlError.empty()) return queryFailed(ProbeFailure::kQuery, sqlError);
  if (!row) return queryFailed(ProbeFailure::kQuery, oneLine(PQerrorMessage(conn_)));
  if (auto bad = readRow(row.get(), reading)) {
    return failed(ProbeFailure::kBadAnswer,
                  fmt::format("{}: unexpected probe answer: {}", label(), *bad));
  }
  return ProbeOutcome{.failure = ProbeFailure::kNone, .reading = reading, .error = {}};
}

void applyOutcome(NodeObservation& observation, const ProbeOutcome& outcome,
                  std::chrono::steady_clock::time_point now) {
  auto health = outcome.reading                           ? NodeHealth::kUp
                : outcome.failure == ProbeFailure::kLogin ? NodeHealth::kUnknown
                                                          : NodeHealth::kDown;
  if (health != observation.health) observation.healthSince = now;
  observation.health = health;
  ++observation.probes;
  if (!outcome.reading) {
    ++observation.failures;
    ++observation.consecutiveFailures;
    observation.lastError = outcome.error;
    return;
  }
  const auto& reading = *outcome.reading;
  observation.lastError.clear();
  observation.consecutiveFailures = 0;
  observation.role = reading.role;
  observation.timeline = reading.timeline;
  observation.currentLsn = reading.currentLsn;
  observation.insertLsn = reading.insertLsn;
  observation.receiveLsn = reading.receiveLsn;
  observation.replayLsn = reading.replayLsn;
  observation.replayPaused = reading.replayPaused;
  observation.replayDelaySeconds = reading.replayDelaySeconds;
  observation.receiverStatus = reading.receiverStatus;
  observation.receiverSilenceSeconds = reading.receiverSilenceSeconds;
  observation.upstream = reading.upstream;
  observation.clusterName = reading.clusterName;
  observation.readOnly = reading.readOnly;
  observation.observedAt = reading.sentAt;
}

}  // namespace pgswarm::cluster
