// Transaction mode: what a client has left on "its" server connection beyond
// a transaction, so that any server connection can be made to look like its
// own and no client inherits another's state.
//
// Replayable state (settings: the client's startup parameters and every
// committed SET/RESET) becomes a canonical key; a server connection carries
// the key it was last brought to, and the session replays the client's
// settings (RESET ALL, then each setting) only when the keys differ, so
// clients with the same settings share servers at no cost. State that cannot
// be replayed (temporary objects, session advisory locks, LISTEN, WITH HOLD
// cursors, SQL PREPARE, SET ROLE / SESSION AUTHORIZATION, LOAD, set_config
// with computed arguments) pins the client to its server until it is gone.
//
// Effects count only once their statement has run: each CommandComplete (or
// EmptyQueryResponse / PortalSuspended) retires the oldest statement sent,
// and an ErrorResponse skips the rest of its batch (up to ReadyForQuery), as
// the server does. Transactional effects (settings, LISTEN, temp objects,
// cursors) wait for the commit; advisory locks and prepared statements take
// effect at once, as in PostgreSQL. Pure logic: no I/O, one session's thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "pool/server_connection.hpp"
#include "runtime/fifo.hpp"
#include "sql/statement.hpp"

namespace pgswarm::proxy {

// The client's startup parameters as settings (name -> SQL that applies
// it): everything but user, database and protocol options, with `options`
// split into its `-c name=value` / `--name=value` switches. An error names
// an option the pool cannot apply with SET.
[[nodiscard]] Result<std::map<std::string, std::string>> startupSettings(
    const pool::Parameters& startup);

class StateTracker {
 public:
  explicit StateTracker(std::map<std::string, std::string> startup = {});

  // Client to server, in the order sent. A null classification is a text
  // the pool did not parse (too large, or cleared by sql::mayAffectSession):
  // it changes nothing, however many statements it holds.
  void query(std::shared_ptr<const sql::Classification> classification);
  void parse(std::string_view statement, std::shared_ptr<const sql::Classification> classification);
  void bind(std::string_view portal, std::string_view statement);
  void execute(std::string_view portal);
  void closeStatement(std::string_view statement);
  void closePortal(std::string_view portal);
  void sync();

  // Server to client, in the order received.
  void commandComplete(std::string_view tag);
  // Whether a CommandComplete now retires a tracked statement: when not,
  // its tag need not be read.
  [[nodiscard]] bool awaitsCompletion() const {
    return !pending_.empty() && pending_.front().batch == serverBatch_;
  }
  void statementDone();  // EmptyQueryResponse, PortalSuspended
  void error();
  void readyForQuery(char status);

  // Everything sent since the last answered batch will never be answered
  // (its server died before replying): forget it, so that sending it again
  // elsewhere tracks it afresh.
  void abandonInFlight();

  // Nothing but the startup settings, nothing in flight: a tracker built
  // afresh from the same startup settings is the same (an idle client may
  // drop it and build it again when it speaks).
  [[nodiscard]] bool pristine() const;
  // True while state that cannot be replayed exists; why, for SHOW CLIENTS.
  [[nodiscard]] bool pinned() const;
  [[nodiscard]] std::string pinReason() const;
  // The client's settings, canonical: equal keys mean equal settings.
  [[nodiscard]] const std::string& settingsKey() const { return key_; }
  // The client may have changed `name` (lowercase) from the server's
  // default: in its startup packet, with SET, or with a setting the tracker
  // could not follow.
  [[nodiscard]] bool mayHaveChanged(const std::string& name) const {
    return opaqueSetting_ || settings_.count(name) != 0 || startup_.count(name) != 0;
  }
  // The query that brings a server connection to this client's settings.
  [[nodiscard]] std::string replayQuery() const { return "RESET ALL;" + key_; }
  // True once after the client's own RESET ALL / DISCARD / RESET of a
  // startup parameter left its server at other values than settingsKey().
  [[nodiscard]] bool takeServerDiverged();
  // True once after DEALLOCATE ALL / DISCARD ALL emptied the server's
  // prepared statements (protocol-level ones included).
  [[nodiscard]] bool takeStatementsDeallocated();

 private:
  struct Pending {
    std::shared_ptr<const sql::Classification> owner;  // null: nothing to track
    const sql::Statement* statement = nullptr;
    std::uint64_t batch = 0;
  };
  struct Savepoint {
    std::string name;
    std::size_t effects = 0;  // txEffects_ size when it was set
  };

  void push(Pending pending);
  void retire(std::string_view tag);
  void applyTransactionControl(const sql::TransactionControl& control, std::string_view tag);
  void applyImmediately(const sql::SessionEffect& effect);
  void commit();
  void rollback();
  void applyCommitted(const sql::SessionEffect& effect);
  void setSetting(const std::string& name, std::string sql);
  void resetSetting(const std::string& name);
  void resetAllSettings();
  void rebuildKey();

  const std::map<std::string, std::string> startup_;
  std::map<std::string, std::string> settings_;  // lowercased name -> SQL
  std::string key_;

  // Pinning state.
  std::set<std::string> listens_;
  std::set<std::string> holdCursors_;
  std::set<std::string> sqlPrepared_;
  int tempObjects_ = 0;
  int advisoryLocks_ = 0;
  bool role_ = false;
  bool sessionAuthorization_ = false;
  bool opaqueSetting_ = false;
  bool loaded_ = false;

  bool serverDiverged_ = false;
  bool statementsDeallocated_ = false;

  // Statements in flight and the transaction's pending effects.
  runtime::Fifo<Pending> pending_;
  std::uint64_t clientBatch_ = 0;  // batch of the next Query / of messages before the next Sync
  std::uint64_t serverBatch_ = 0;  // batch the server is answering
  bool batchFailed_ = false;
  std::vector<sql::SessionEffect> txEffects_;
  std::vector<Savepoint> savepoints_;

  // Extended protocol: statements and portals that matter (session effects
  // or transaction control); anything not here changes nothing.
  std::unordered_map<std::string, std::shared_ptr<const sql::Classification>> statements_;
  std::unordered_map<std::string, std::shared_ptr<const sql::Classification>> portals_;
};

}  // namespace pgswarm::proxy
