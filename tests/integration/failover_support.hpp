// Helpers of the failover tests: one-value queries, the admin console's
// SHOW FAILOVER / SHOW NODES, and a writer that records which of its
// commits were acknowledged.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
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

// Inserts numbered rows through one pool connection, one transaction each,
// and records which were acknowledged and when writes failed.
class LedgerWriter {
  using Clock = std::chrono::steady_clock;

 public:
  // Inserts ids firstId, firstId + 1, ...
  explicit LedgerWriter(std::function<RawConn()> connect, long firstId = 1)
      : connect_(std::move(connect)), firstId_(firstId) {
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
    for (long id = firstId_; !stopping_; ++id) {
      auto outcome = run(conn.get(), "INSERT INTO ledger VALUES (" + std::to_string(id) + ")");
      if (outcome == "ok") {
        auto now = Clock::now();
        ids_.push_back(id);
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
  std::atomic<bool> stopping_{false};
  std::atomic<bool> finished_{false};
  std::atomic<bool> cutOff_{false};
  std::mutex connMutex_;
  PGconn* conn_ = nullptr;  // the connection in use, for stop() to cut off
  std::atomic<std::uint64_t> acknowledged_{0};
  std::atomic<int> reconnects_{0};
  std::atomic<int> failures_{0};
  std::vector<long> ids_;
  mutable std::mutex mutex_;
  std::chrono::milliseconds longestGap_{0};
  std::string lastError_;
  std::thread thread_;
};

}  // namespace pgswarm::test
