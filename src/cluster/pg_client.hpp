// A small RAII wrapper over libpq for the control plane (health checks,
// promotion, role and slot management). Never used on the proxy's data path,
// which speaks the protocol itself.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"

struct pg_conn;

namespace pgswarm::cluster {

// libpq keywords and values added to a connection's own (the pool's
// server_tls_* in libpq's words: sslmode, sslrootcert, sslcert, ...).
using ConnectKeywords = std::vector<std::pair<std::string, std::string>>;

struct ConnectTarget {
  std::string host;  // a hostname, an IP or a unix socket directory
  int port = 5432;
  std::string user = "postgres";
  std::string password;
  std::string dbname = "postgres";
  std::string applicationName = "pgswarm";
  int connectTimeoutSeconds = 3;
  std::string replication;  // "" or "true" for a physical replication connection
  ConnectKeywords tls;      // empty: libpq's defaults (sslmode=prefer)
};

// One result set; every value is text, NULL is nullopt.
class QueryRows {
 public:
  QueryRows(std::vector<std::string> columns,
            std::vector<std::vector<std::optional<std::string>>> rows)
      : columns_(std::move(columns)), rows_(std::move(rows)) {}
  [[nodiscard]] std::size_t size() const { return rows_.size(); }
  [[nodiscard]] bool empty() const { return rows_.empty(); }
  // Value of `column` in row `row`; nullopt for NULL or an unknown column.
  [[nodiscard]] std::optional<std::string> get(std::size_t row, const std::string& column) const;
  [[nodiscard]] std::string text(std::size_t row, const std::string& column) const {
    return get(row, column).value_or("");
  }

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<std::optional<std::string>>> rows_;
};

// What a COPY stream between two connections has moved so far.
struct CopyProgress {
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
};

class PgConnection {
 public:
  [[nodiscard]] static Result<PgConnection> connect(const ConnectTarget& target);
  PgConnection(PgConnection&&) noexcept;
  PgConnection& operator=(PgConnection&&) noexcept;
  ~PgConnection();

  // Runs one statement with text parameters ($1, $2, ...).
  [[nodiscard]] Result<QueryRows> query(const std::string& sql,
                                        const std::vector<std::string>& params = {});
  [[nodiscard]] Status execute(const std::string& sql, const std::vector<std::string>& params = {});
  // Streams `copyOutSql` (a COPY ... TO STDOUT) run here into `copyInSql`
  // (a COPY ... FROM STDIN) run on `target`, message by message, so no more
  // than one row is ever buffered. `onProgress` sees the running totals
  // after each row. On any error both COPYs are ended with a failure, so
  // the target keeps nothing of this stream unless its caller committed.
  [[nodiscard]] Result<CopyProgress> copyInto(
      PgConnection& target, const std::string& copyOutSql, const std::string& copyInSql,
      const std::function<void(const CopyProgress&)>& onProgress = {});
  // Inside a transaction block (BEGIN ran, no COMMIT or ROLLBACK yet).
  [[nodiscard]] bool inTransaction() const;
  // Sets statement_timeout for this connection (0 disables it).
  [[nodiscard]] Status setStatementTimeout(int milliseconds);
  // The SCRAM-SHA-256 verifier of `password` for `user`, computed by libpq on
  // this side, so CREATE/ALTER ROLE never sends (or logs) the plain password.
  [[nodiscard]] Result<std::string> encryptPassword(const std::string& user,
                                                    const std::string& password);

 private:
  struct Closer {
    void operator()(pg_conn* conn) const;
  };
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  std::unique_ptr<pg_conn, Closer> conn_;
};

// Quotes an SQL identifier / literal for DDL that cannot take parameters
// (CREATE ROLE ... PASSWORD): doubles quotes as PostgreSQL's quote_* do.
[[nodiscard]] std::string quoteIdentifier(const std::string& name);
[[nodiscard]] std::string quoteLiteral(const std::string& value);

// `conninfo` (a replica's primary_conninfo) aimed at host:port instead,
// every other keyword kept (user, password, sslmode, application_name);
// hostaddr is dropped, as it would override the new host.
[[nodiscard]] Result<std::string> retargetConninfo(const std::string& conninfo,
                                                   const std::string& host, int port);

}  // namespace pgswarm::cluster
