// libpq control-plane client: see pg_client.hpp.
#include "cluster/pg_client.hpp"

#include <libpq-fe.h>

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
  keys.push_back(nullptr);
  values.push_back(nullptr);
  pg_conn* raw = PQconnectdbParams(keys.data(), values.data(), 0);
  if (raw == nullptr)
    return makeError("out of memory connecting to {}:{}", target.host, target.port);
  PgConnection conn(raw);
  if (PQstatus(raw) != CONNECTION_OK) {
    return makeError("cannot connect to {}:{} as {}: {}", target.host, target.port, target.user,
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
