// libpq control-plane client: see pg_client.hpp.
#include "cluster/pg_client.hpp"

#include <libpq-fe.h>

#include <array>

namespace pgswarm::cluster {
namespace {

std::string trimmedError(const char* message) {
  std::string text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

struct ResultCloser {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultCloser>;

}  // namespace

void PgConnection::Closer::operator()(pg_conn* conn) const {
  PQfinish(conn);
}

std::optional<std::string> QueryRows::get(std::size_t row, const std::string& column) const {
  if (row >= rows_.size()) return std::nullopt;
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i] == column) return rows_[row][i];
  }
  return std::nullopt;
}

Result<PgConnection> PgConnection::connect(const ConnectTarget& target) {
  std::string port = std::to_string(target.port);
  std::string timeout = std::to_string(target.connectTimeoutSeconds);
  std::vector<const char*> keys{"host",           "port", "user", "dbname", "application_name",
                                "connect_timeout"};
  std::vector<const char*> values{target.host.c_str(),
                                  port.c_str(),
                                  target.user.c_str(),
                                  target.dbname.c_str(),
                                  target.applicationName.c_str(),
                                  timeout.c_str()};
  if (!target.password.empty()) {
    keys.push_back("password");
    values.push_back(target.password.c_str());
  }
  if (!target.replication.empty()) {
    keys.push_back("replication");
    values.push_back(target.replication.c_str());
  }
  std::string sslmode;
  for (const auto& [key, value] : target.tls) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
    if (key == "sslmode") sslmode = value;
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  pg_conn* raw = PQconnectdbParams(keys.data(), values.data(), 0);
  if (raw == nullptr)
    return makeError("out of memory connecting to {}:{}", target.host, target.port);
  PgConnection conn(raw);
  if (PQstatus(raw) != CONNECTION_OK) {
    // The mode is named because a server that refuses plain logins (or TLS)
    // answers with a pg_hba.conf line that does not say which side chose.
    return makeError("cannot connect to {}:{} as {}{}: {}", target.host, target.port, target.user,
                     sslmode.empty() ? "" : " with sslmode=" + sslmode,
                     trimmedError(PQerrorMessage(raw)));
  }
  return conn;
}

PgConnection::PgConnection(PgConnection&&) noexcept = default;
PgConnection& PgConnection::operator=(PgConnection&&) noexcept = default;
PgConnection::~PgConnection() = default;

Result<QueryRows> PgConnection::query(const std::string& sql,
                                      const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param.c_str());
  // Without parameters use the simple protocol: walsender connections
  // (replication commands such as DROP_REPLICATION_SLOT) accept nothing else.
  ResultPtr result(values.empty()
                       ? PQexec(conn_.get(), sql.c_str())
                       : PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()),
                                      nullptr, values.data(), nullptr, nullptr, 0));
  auto status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    return Error{
        trimmedError(result ? PQresultErrorMessage(result.get()) : PQerrorMessage(conn_.get()))};
  }
  std::vector<std::string> columns;
  int fieldCount = PQnfields(result.get());
  for (int i = 0; i < fieldCount; ++i) columns.emplace_back(PQfname(result.get(), i));
  std::vector<std::vector<std::optional<std::string>>> rows;
  int rowCount = PQntuples(result.get());
  for (int r = 0; r < rowCount; ++r) {
    auto& row = rows.emplace_back();
    for (int c = 0; c < fieldCount; ++c) {
      if (PQgetisnull(result.get(), r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(result.get(), r, c),
                                     static_cast<std::size_t>(PQgetlength(result.get(), r, c))));
      }
    }
  }
  return QueryRows(std::move(columns), std::move(rows));
}

Status PgConnection::execute(const std::string& sql, const std::vector<std::string>& params) {
  auto rows = query(sql, params);
  if (!rows) return rows.error();
  return Ok{};
}

namespace {

// Ends a COPY ... FROM STDIN on `conn`: `failure` empty commits the stream's
// rows to the statement, otherwise aborts it with that message.
Status endCopyIn(pg_conn* conn, const std::string& failure) {
  if (PQputCopyEnd(conn, failure.empty() ? nullptr : failure.c_str()) != 1) {
    return Error{trimmedError(PQerrorMessage(conn))};
  }
  Status outcome = Ok{};
  while (ResultPtr result{PQgetResult(conn)}) {
    if (PQresultStatus(result.get()) != PGRES_COMMAND_OK && outcome) {
      outcome = Error{trimmedError(PQresultErrorMessage(result.get()))};
    }
  }
  return outcome;
}

// Stops a COPY ... TO STDOUT that is still sending (the target failed):
// cancels it on the server and drops what was already on its way.
void abandonCopyOut(pg_conn* conn) {
  if (PGcancel* cancel = PQgetCancel(conn)) {
    std::array<char, 256> error{};
    (void)PQcancel(cancel, error.data(), static_cast<int>(error.size()));
    PQfreeCancel(cancel);
  }
  char* data = nullptr;
  while (PQgetCopyData(conn, &data, 0) >= 0) PQfreemem(data);
}

// Drains what a COPY ... TO STDOUT still has to say, for its final status.
Status finishCopyOut(pg_conn* conn) {
  Status outcome = Ok{};
  while (ResultPtr result{PQgetResult(conn)}) {
    if (PQresultStatus(result.get()) != PGRES_COMMAND_OK && outcome) {
      outcome = Error{trimmedError(PQresultErrorMessage(result.get()))};
    }
  }
  return outcome;
}

Status startCopy(pg_conn* conn, const std::string& sql, ExecStatusType expected) {
  ResultPtr result{PQexec(conn, sql.c_str())};
  if (!result || PQresultStatus(result.get()) != expected) {
    return Error{trimmedError(result ? PQresultErrorMessage(result.get()) : PQerrorMessage(conn))};
  }
  return Ok{};
}

// A binary COPY ends with a two-byte trailer (-1 as int16) in a message of
// its own; every other message is one row (the first also carries the header).
bool isBinaryTrailer(const char* data, int length) {
  return length == 2 && static_cast<unsigned char>(data[0]) == 0xff &&
         static_cast<unsigned char>(data[1]) == 0xff;
}

}  // namespace

Result<CopyProgress> PgConnection::copyInto(
    PgConnection& target, const std::string& copyOutSql, const std::string& copyInSql,
    const std::function<void(const CopyProgress&)>& onProgress) {
  if (auto started = startCopy(target.conn_.get(), copyInSql, PGRES_COPY_IN); !started) {
    return makeError("on the target: {}", started.error().message);
  }
  if (auto started = startCopy(conn_.get(), copyOutSql, PGRES_COPY_OUT); !started) {
    (void)endCopyIn(target.conn_.get(), "source failed");
    return makeError("on the source: {}", started.error().message);
  }
  CopyProgress progress;
  std::string failure;
  for (;;) {
    char* data = nullptr;
    int length = PQgetCopyData(conn_.get(), &data, 0);
    if (length < 0) {
      if (length == -2) failure = trimmedError(PQerrorMessage(conn_.get()));
      break;
    }
    std::unique_ptr<char, decltype(&PQfreemem)> owned(data, &PQfreemem);
    if (PQputCopyData(target.conn_.get(), data, length) != 1) {
      failure = "on the target: " + trimmedError(PQerrorMessage(target.conn_.get()));
      abandonCopyOut(conn_.get());
      break;
    }
    progress.bytes += length;
    if (!isBinaryTrailer(data, length)) ++progress.rows;
    if (onProgress) onProgress(progress);
  }
  Status sourceEnd = finishCopyOut(conn_.get());
  if (failure.empty() && !sourceEnd) failure = "on the source: " + sourceEnd.error().message;
  Status targetEnd = endCopyIn(target.conn_.get(), failure.empty() ? "" : "source failed");
  if (!failure.empty()) return Error{failure};
  if (!targetEnd) return makeError("on the target: {}", targetEnd.error().message);
  return progress;
}

bool PgConnection::inTransaction() const {
  return PQtransactionStatus(conn_.get()) != PQTRANS_IDLE;
}

Status PgConnection::setStatementTimeout(int milliseconds) {
  return execute("SELECT set_config('statement_timeout', $1, false)",
                 {std::to_string(milliseconds)});
}

Result<std::string> PgConnection::encryptPassword(const std::string& user,
                                                  const std::string& password) {
  char* verifier =
      PQencryptPasswordConn(conn_.get(), password.c_str(), user.c_str(), "scram-sha-256");
  if (verifier == nullptr) {
    return makeError("cannot compute the SCRAM verifier: {}",
                     trimmedError(PQerrorMessage(conn_.get())));
  }
  std::string text(verifier);
  PQfreemem(verifier);
  return text;
}

std::string quoteIdentifier(const std::string& name) {
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string quoteLiteral(const std::string& value) {
  // E'' form so a backslash in a password cannot change the meaning.
  std::string quoted = "E'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted += c;
    quoted += c;
  }
  return quoted + "'";
}

namespace {

// libpq's quoting for a conninfo value: single quotes, with ' and \ escaped.
std::string quoteConninfoValue(const std::string& value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

}  // namespace

Result<std::string> retargetConninfo(const std::string& conninfo, const std::string& host,
                                     int port) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    return makeError("cannot parse primary_conninfo: {}", message);
  }
  std::string out = "host=" + quoteConninfoValue(host) + " port=" + std::to_string(port);
  for (auto* option = options; option->keyword != nullptr; ++option) {
    std::string keyword = option->keyword;
    if (option->val == nullptr || keyword == "host" || keyword == "port" || keyword == "hostaddr") {
      continue;
    }
    out += " " + keyword + "=" + quoteConninfoValue(option->val);
  }
  PQconninfoFree(options);
  return out;
}

}  // namespace pgswarm::cluster
