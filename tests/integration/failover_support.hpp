// Helpers of the failover tests: one-value queries, the admin console's
// SHOW FAILOVER / SHOW NODES, a writer that records which of its commits
// were acknowledged and on which node, and a watch that asks every node
// directly, all through a scenario, whether it would take a write.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace pgswarm::test {

using namespace std::chrono_literals;

// "ok", a single value, or "error: ...".
inline std::string run(PGconn* conn, const std::string& sql) {
  PGresult* result = PQexec(conn, sql.c_str());
  auto status = PQresultStatus(result);
  std::string outcome;
  if (status == PGRES_TUPLES_OK && PQntuples(result) == 1 && PQnfields(result) == 1) {
    outcome = PQgetisnull(result, 0, 0) ? "" : PQgetvalue(result, 0, 0);
  } else if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    outcome = "ok";
  } else {
    outcome = std::string("error: ") + PQresultErrorMessage(result);
  }
  PQclear(result);
  return outcome;
}

// One column of the admin console's single-row answer to `command`.
inline std::string consoleValue(PGconn* console, const char* command, const char* column) {
  PGresult* result = PQexec(console, command);
  std::string value;
  int field = PQfnumber(result, column);
  if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) >= 1 && field >= 0) {
    value = PQgetisnull(result, 0, field) ? "" : PQgetvalue(result, 0, field);
  } else {
    value = std::string("error: ") + PQresultErrorMessage(result);
  }
  PQclear(result);
  return value;
}

// "role/health" from SHOW NODES for every node.
inline std::vector<std::string> nodeRoles(PGconn* console) {
  std::vector<std::string> roles;
  PGresult* result = PQexec(console, "SHOW NODES");
  int role = PQfnumber(result, "role");
  int health = PQfnumber(result, "health");
  if (PQresultStatus(result) == PGRES_TUPLES_OK && role >= 0 && health >= 0) {
    for (int row = 0; row < PQntuples(result); ++row) {
      roles.push_back(std::string(PQgetvalue(result, row, role)) + "/" +
                      PQgetvalue(result, row, health));
    }
  }
  PQclear(result);
  return roles;
}

// One acknowledged insert: when it was sent, when its answer came, and the
// node that took it (the writer's `landedOn` expression, evaluated by the
// server; empty without one).
struct LedgerAck {
  long id = 0;
  std::chrono::steady_clock::time_point sent;
  std::chrono::steady_clock::time_point acked;
  std::string node;
};

// Inserts numbered rows through one pool connection, one transaction each,
// and records which were acknowledged and when writes failed.
class LedgerWriter {
  using Clock = std::chrono::steady_clock;

 public:
  // Inserts ids firstId, firstId + 1, ... With `landedOn` (an SQL
  // expression such as "host(inet_server_addr())") every insert returns it,
  // so each acknowledgement names the node that took the row.
  explicit LedgerWriter(std::function<RawConn()> connect, long firstId = 1,
                        std::string landedOn = "")
      : connect_(std::move(connect)), firstId_(firstId), landedOn_(std::move(landedOn)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~LedgerWriter() { stop(); }
  // A statement the pool never answers (it hangs on an unreachable server)
  // is cut off after `patience`, so a test fails instead of hanging.
  void stop(std::chrono::milliseconds patience = 30s) {
    stopping_ = true;
    if (!thread_.joinable()) return;
    auto deadline = std::chrono::steady_clock::now() + patience;
    while (!finished_ && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    if (!finished_) {
      std::lock_guard lock(connMutex_);
      cutOff_ = true;
      if (conn_ != nullptr) ::shutdown(PQsocket(conn_), SHUT_RDWR);
    }
    thread_.join();
  }
  // Whether stop() had to cut off a statement the pool never answered.
  bool hung() const { return cutOff_.load(); }
  std::uint64_t acknowledged() const { return acknowledged_.load(); }
  // Acknowledged ids, once stopped.
  const std::vector<long>& ids() const { return ids_; }
  // Every acknowledged insert with its times and node, once stopped.
  const std::vector<LedgerAck>& acks() const { return acks_; }
  int reconnects() const { return reconnects_.load(); }
  int failures() const { return failures_.load(); }  // inserts that got an error
  // The longest time between two acknowledged inserts.
  std::chrono::milliseconds longestGap() const {
    std::lock_guard lock(mutex_);
    return longestGap_;
  }
  std::string lastError() const {
    std::lock_guard lock(mutex_);
    return lastError_;
  }

 private:
  void loop() {
    auto conn = connect_();
    publish(conn.get());
    auto lastAck = Clock::now();
    std::string returning = landedOn_.empty() ? "" : " RETURNING " + landedOn_;
    for (long id = firstId_; !stopping_; ++id) {
      auto sent = Clock::now();
      auto outcome =
          run(conn.get(), "INSERT INTO ledger VALUES (" + std::to_string(id) + ")" + returning);
      if (landedOn_.empty() ? outcome == "ok" : !outcome.starts_with("error")) {
        auto now = Clock::now();
        ids_.push_back(id);
        acks_.push_back(LedgerAck{
            .id = id, .sent = sent, .acked = now, .node = landedOn_.empty() ? "" : outcome});
        ++acknowledged_;
        std::lock_guard lock(mutex_);
        longestGap_ = std::max(
            longestGap_, std::chrono::duration_cast<std::chrono::milliseconds>(now - lastAck));
        lastAck = now;
        continue;
      }
      ++failures_;
      {
        std::lock_guard lock(mutex_);
        lastError_ = outcome;
      }
      if (PQstatus(conn.get()) != CONNECTION_OK && !stopping_) {
        ++reconnects_;
        publish(nullptr);
        conn = connect_();
        publish(conn.get());
      }
      std::this_thread::sleep_for(20ms);
    }
    publish(nullptr);
    finished_ = true;
  }
  void publish(PGconn* conn) {
    std::lock_guard lock(connMutex_);
    conn_ = conn;
  }

  std::function<RawConn()> connect_;
  long firstId_;
  std::string landedOn_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> finished_{false};
  std::atomic<bool> cutOff_{false};
  std::mutex connMutex_;
  PGconn* conn_ = nullptr;  // the connection in use, for stop() to cut off
  std::atomic<std::uint64_t> acknowledged_{0};
  std::atomic<int> reconnects_{0};
  std::atomic<int> failures_{0};
  std::vector<long> ids_;
  std::vector<LedgerAck> acks_;
  mutable std::mutex mutex_;
  std::chrono::milliseconds longestGap_{0};
  std::string lastError_;
  std::thread thread_;
};

// The writers' acknowledged ids as an SQL array literal, '{1,2,3}', for
// "WHERE id = ANY(...)". The writers must be stopped.
inline std::string acknowledgedIds(const std::vector<const LedgerWriter*>& writers) {
  std::string ids;
  for (const auto* writer : writers) {
    for (long id : writer->ids()) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  }
  return "'{" + ids + "}'";
}

// "" when the writers' acknowledged inserts landed on one node at a time:
// each node's span (its first insert's send to its last insert's answer)
// overlaps no other node's. Otherwise the overlapping spans. The writers
// must have a `landedOn` expression and be stopped.
inline std::string overlappingLandings(const std::vector<const LedgerWriter*>& writers) {
  using Clock = std::chrono::steady_clock;
  struct Span {
    Clock::time_point first = Clock::time_point::max();
    Clock::time_point last = Clock::time_point::min();
    std::size_t rows = 0;
  };
  std::map<std::string, Span> spans;
  for (const auto* writer : writers) {
    for (const auto& ack : writer->acks()) {
      auto& span = spans[ack.node];
      span.first = std::min(span.first, ack.sent);
      span.last = std::max(span.last, ack.acked);
      ++span.rows;
    }
  }
  auto origin = Clock::time_point::max();
  for (const auto& [node, span] : spans) origin = std::min(origin, span.first);
  auto at = [&](Clock::time_point t) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(t - origin).count());
  };
  std::string overlaps;
  for (auto a = spans.begin(); a != spans.end(); ++a) {
    for (auto b = std::next(a); b != spans.end(); ++b) {
      if (a->second.last < b->second.first || b->second.last < a->second.first) continue;
      overlaps += "'" + a->first + "' took " + std::to_string(a->second.rows) + " rows from " +
                  at(a->second.first) + " to " + at(a->second.last) + " ms and '" + b->first +
                  "' " + std::to_string(b->second.rows) + " from " + at(b->second.first) + " to " +
                  at(b->second.last) + " ms; ";
    }
  }
  return overlaps;
}

// Where each acknowledged row landed: "node: rows" for every node.
inline std::string landings(const std::vector<const LedgerWriter*>& writers) {
  std::map<std::string, std::size_t> rows;
  for (const auto* writer : writers) {
    for (const auto& ack : writer->acks()) ++rows[ack.node];
  }
  std::string text;
  for (const auto& [node, count] : rows) {
    text += (text.empty() ? "" : ", ") + node + ": " + std::to_string(count);
  }
  return text;
}

// Asks every node straight (not through the pool), every `period`, whether
// it would take a write: a primary, default_transaction_read_only off, and
// not fenced through synchronous_standby_names. A node that does not answer
// counts as not writable (it takes no write either). Remembers every round
// in which two nodes would have taken one.
class WritableWatch {
  using Clock = std::chrono::steady_clock;

 public:
  // `connect[i]` opens a connection to node i that works whatever the
  // network does to it (a unix socket, or a namespace's own side).
  explicit WritableWatch(std::vector<std::function<RawConn()>> connect,
                         std::chrono::milliseconds period = 100ms)
      : connect_(std::move(connect)),
        period_(period),
        conns_(connect_.size()),
        writable_(connect_.size(), 0) {
    thread_ = std::thread([this] { loop(); });
  }
  ~WritableWatch() { stop(); }
  WritableWatch(const WritableWatch&) = delete;
  WritableWatch& operator=(const WritableWatch&) = delete;
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int rounds() const { return rounds_.load(); }
  // The rounds in which two or more nodes were writable ("" when none).
  std::string doubleWritable() const {
    std::lock_guard lock(mutex_);
    return doubles_;
  }
  // Per node, the rounds in which it was writable: "0:52 1:40 2:0".
  std::string writableRounds() const {
    std::lock_guard lock(mutex_);
    std::string text;
    for (std::size_t i = 0; i < writable_.size(); ++i) {
      text += (i == 0 ? "" : " ") + std::to_string(i) + ":" + std::to_string(writable_[i]);
    }
    return text;
  }

 private:
  static constexpr const char* kWritableSql =
      "SELECT NOT pg_is_in_recovery() "
      "AND current_setting('default_transaction_read_only') = 'off' "
      "AND current_setting('synchronous_standby_names') NOT LIKE '%pgswarm-fenced%'";

  void loop() {
    auto start = Clock::now();
    while (!stopping_) {
      auto roundStart = Clock::now();
      std::vector<std::size_t> now;
      for (std::size_t i = 0; i < connect_.size(); ++i) {
        if (writable(i)) now.push_back(i);
      }
      ++rounds_;
      {
        std::lock_guard lock(mutex_);
        for (auto i : now) ++writable_[i];
        if (now.size() > 1 && doubles_.size() < 2000) {
          doubles_ += "at " +
                      std::to_string(
                          std::chrono::duration_cast<std::chrono::milliseconds>(roundStart - start)
                              .count()) +
                      " ms nodes";
          for (auto i : now) doubles_ += " " + std::to_string(i);
          doubles_ += "; ";
        }
      }
      std::this_thread::sleep_until(roundStart + period_);
    }
  }
  bool writable(std::size_t node) {
    auto& conn = conns_[node];
    if (conn.get() == nullptr || PQstatus(conn.get()) != CONNECTION_OK) {
      conn = connect_[node]();
      if (PQstatus(conn.get()) != CONNECTION_OK) return false;
    }
    auto answer = run(conn.get(), kWritableSql);
    return answer == "t";
  }

  std::vector<std::function<RawConn()>> connect_;
  std::chrono::milliseconds period_;
  std::vector<RawConn> conns_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> rounds_{0};
  mutable std::mutex mutex_;
  std::vector<int> writable_;
  std::string doubles_;
  std::thread thread_;
};

}  // namespace pgswarm::test
