// Transaction-mode session state: see state_tracker.hpp.
#include "proxy/state_tracker.hpp"

#include <algorithm>
#include <cctype>

namespace pgswarm::proxy {
namespace {

using sql::SessionEffectKind;
using sql::TransactionOp;

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// An escape-string literal: correct whatever standard_conforming_strings is.
std::string literal(std::string_view text) {
  std::string out = "E'";
  for (char c : text) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  out += '\'';
  return out;
}

// set_config() applies a value exactly as a startup packet does (lists such
// as search_path are split by the setting itself, not by SQL syntax).
std::string setConfigSql(const std::string& name, std::string_view value) {
  return "SELECT pg_catalog.set_config(" + literal(name) + ", " + literal(value) + ", false)";
}

// PostgreSQL's pg_split_opts: words split at unescaped white space, a
// backslash takes the next character literally.
std::vector<std::string> splitOptions(std::string_view options) {
  std::vector<std::string> words;
  std::string word;
  bool inWord = false;
  for (std::size_t i = 0; i < options.size(); ++i) {
    char c = options[i];
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      if (inWord) words.push_back(std::move(word));
      word.clear();
      inWord = false;
      continue;
    }
    if (c == '\\' && i + 1 < options.size()) c = options[++i];
    word += c;
    inWord = true;
  }
  if (inWord) words.push_back(std::move(word));
  return words;
}

Status addOptionSetting(std::map<std::string, std::string>& settings, std::string_view assignment) {
  auto equals = assignment.find('=');
  if (equals == std::string_view::npos || equals == 0) {
    return makeError("invalid option \"{}\": expected name=value", assignment);
  }
  // As ParseLongOption: dashes in the name mean underscores.
  std::string name = lowercase(assignment.substr(0, equals));
  std::replace(name.begin(), name.end(), '-', '_');
  settings[name] = setConfigSql(name, assignment.substr(equals + 1));
  return Ok{};
}

Status addOptions(std::map<std::string, std::string>& settings, std::string_view options) {
  auto words = splitOptions(options);
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string_view word = words[i];
    if (word.rfind("--", 0) == 0) {
      if (auto status = addOptionSetting(settings, word.substr(2)); !status) return status;
    } else if (word == "-c" && i + 1 < words.size()) {
      if (auto status = addOptionSetting(settings, words[++i]); !status) return status;
    } else if (word.rfind("-c", 0) == 0 && word.size() > 2) {
      if (auto status = addOptionSetting(settings, word.substr(2)); !status) return status;
    } else {
      return makeError("unsupported option \"{}\" (only -c name=value and --name=value)", word);
    }
  }
  return Ok{};
}

bool matters(const sql::Statement& statement) {
  return !statement.sessionEffects.empty() || statement.transaction.op != TransactionOp::kNone;
}

// Effects PostgreSQL applies at once, whether or not the transaction commits.
bool nonTransactional(SessionEffectKind kind) {
  switch (kind) {
    case SessionEffectKind::kAdvisoryLock:
    case SessionEffectKind::kAdvisoryUnlock:
    case SessionEffectKind::kAdvisoryUnlockAll:
    case SessionEffectKind::kPrepare:
    case SessionEffectKind::kDeallocate:
    case SessionEffectKind::kDeallocateAll:
    case SessionEffectKind::kDiscardAll:
    case SessionEffectKind::kLoad:
      return true;
    default:
      return false;
  }
}

}  // namespace

Result<std::map<std::string, std::string>> startupSettings(const pool::Parameters& startup) {
  std::map<std::string, std::string> settings;
  for (const auto& parameter : startup) {
    const auto& name = parameter.name;
    if (name == "user" || name == "database" || name == "replication" ||
        name.rfind("_pq_.", 0) == 0) {
      continue;
    }
    if (name == "options") {
      if (auto status = addOptions(settings, parameter.value); !status) return status.error();
      continue;
    }
    auto lowered = lowercase(name);
    settings[lowered] = setConfigSql(lowered, parameter.value);
  }
  return settings;
}

StateTracker::StateTracker(std::map<std::string, std::string> startup)
    : startup_(std::move(startup)), settings_(startup_) {
  rebuildKey();
}

void StateTracker::push(Pending pending) {
  // After an error the server skips the rest of the batch: so do we.
  if (batchFailed_ && pending.batch == serverBatch_) return;
  pending_.push_back(std::move(pending));
}

void StateTracker::query(std::shared_ptr<const sql::Classification> classification) {
  const auto batch = clientBatch_++;
  // A batch with nothing that matters leaves no entry: its completions find
  // none of their batch at the front (retire), whatever their number.
  if (!classification || (classification->status != sql::ClassificationStatus::kOk &&
                          classification->status != sql::ClassificationStatus::kEmpty)) {
    return;
  }
  if (!classification->sessionEffects && !classification->transactionControl) return;
  for (const auto& statement : classification->statements) {
    if (matters(statement)) {
      push({.owner = classification, .statement = &statement, .batch = batch});
    } else {
      push({.batch = batch});
    }
  }
}

void StateTracker::parse(std::string_view statement,
                         std::shared_ptr<const sql::Classification> classification) {
  if (classification && classification->status == sql::ClassificationStatus::kOk &&
      classification->statements.size() == 1 && matters(classification->statements.front())) {
    statements_[std::string(statement)] = std::move(classification);
  } else if (!statements_.empty()) {
    statements_.erase(std::string(statement));
  }
}

void StateTracker::bind(std::string_view portal, std::string_view statement) {
  if (statements_.empty()) {
    if (!portals_.empty()) portals_.erase(std::string(portal));
    return;
  }
  auto found = statements_.find(std::string(statement));
  if (found == statements_.end()) {
    portals_.erase(std::string(portal));
  } else {
    portals_[std::string(portal)] = found->second;
  }
}

void StateTracker::execute(std::string_view portal) {
  if (!portals_.empty()) {
    auto found = portals_.find(std::string(portal));
    if (found != portals_.end()) {
      push({.owner = found->second,
            .statement = &found->second->statements.front(),
            .batch = clientBatch_});
      return;
    }
  }
  push({.batch = clientBatch_});
}

void StateTracker::closeStatement(std::string_view statement) {
  if (!statements_.empty()) statements_.erase(std::string(statement));
}

void StateTracker::closePortal(std::string_view portal) {
  if (!portals_.empty()) portals_.erase(std::string(portal));
}

void StateTracker::sync() {
  ++clientBatch_;
}

void StateTracker::commandComplete(std::string_view tag) {
  retire(tag);
}

void StateTracker::statementDone() {
  retire({});
}

void StateTracker::retire(std::string_view tag) {
  if (pending_.empty()) return;
  auto& front = pending_.front();
  if (front.batch != serverBatch_) return;  // a later batch's: this one tracks nothing
  Pending done = std::move(front);
  pending_.pop_front();
  if (done.statement == nullptr) return;
  applyTransactionControl(done.statement->transaction, tag);
  for (const auto& effect : done.statement->sessionEffects) {
    if (nonTransactional(effect.kind)) {
      applyImmediately(effect);
    } else {
      txEffects_.push_back(effect);
    }
  }
}

void StateTracker::error() {
  // The failing statement may have taken a lock before it failed: assume it did.
  if (!pending_.empty() && pending_.front().batch == serverBatch_ &&
      pending_.front().statement != nullptr) {
    for (const auto& effect : pending_.front().statement->sessionEffects) {
      if (effect.kind == SessionEffectKind::kAdvisoryLock) applyImmediately(effect);
    }
  }
  while (!pending_.empty() && pending_.front().batch == serverBatch_) pending_.pop_front();
  batchFailed_ = true;
}

void StateTracker::abandonInFlight() {
  pending_.clear();
  serverBatch_ = clientBatch_;
  batchFailed_ = false;
}

void StateTracker::readyForQuery(char status) {
  while (!pending_.empty() && pending_.front().batch <= serverBatch_) pending_.pop_front();
  if (status == 'I') {
    // An implicit transaction that failed rolled back everything since the
    // last commit; otherwise what ran is committed now.
    if (batchFailed_) {
      rollback();
    } else {
      commit();
    }
  }
  batchFailed_ = false;
  ++serverBatch_;
}

void StateTracker::applyTransactionControl(const sql::TransactionControl& control,
                                           std::string_view tag) {
  switch (control.op) {
    case TransactionOp::kCommit:
      // COMMIT of a failed transaction answers ROLLBACK.
      if (tag.rfind("ROLLBACK", 0) == 0) {
        rollback();
      } else {
        commit();
      }
      break;
    case TransactionOp::kPrepareTransaction:  // the session's settings commit with it
      commit();
      break;
    case TransactionOp::kRollback:
      rollback();
      break;
    case TransactionOp::kSavepoint:
      savepoints_.push_back({control.name, txEffects_.size()});
      break;
    case TransactionOp::kRelease:
    case TransactionOp::kRollbackTo: {
      auto found = std::find_if(savepoints_.rbegin(), savepoints_.rend(),
                                [&](const Savepoint& s) { return s.name == control.name; });
      if (found == savepoints_.rend()) break;
      auto index = static_cast<std::size_t>(savepoints_.rend() - found) - 1;
      if (control.op == TransactionOp::kRollbackTo) {
        txEffects_.resize(std::min(txEffects_.size(), savepoints_[index].effects));
        savepoints_.resize(index + 1);  // the savepoint itself stays
      } else {
        savepoints_.resize(index);
      }
      break;
    }
    default:
      break;
  }
}

void StateTracker::applyImmediately(const sql::SessionEffect& effect) {
  switch (effect.kind) {
    case SessionEffectKind::kAdvisoryLock:
      ++advisoryLocks_;
      break;
    case SessionEffectKind::kAdvisoryUnlock:
      if (advisoryLocks_ > 0) --advisoryLocks_;
      break;
    case SessionEffectKind::kAdvisoryUnlockAll:
      advisoryLocks_ = 0;
      break;
    case SessionEffectKind::kPrepare:
      sqlPrepared_.insert(effect.name);
      break;
    case SessionEffectKind::kDeallocate:
      sqlPrepared_.erase(effect.name);
      break;
    case SessionEffectKind::kDeallocateAll:
      sqlPrepared_.clear();
      statementsDeallocated_ = true;
      break;
    case SessionEffectKind::kDiscardAll:
      resetAllSettings();
      role_ = sessionAuthorization_ = opaqueSetting_ = false;
      listens_.clear();
      holdCursors_.clear();
      sqlPrepared_.clear();
      tempObjects_ = advisoryLocks_ = 0;
      statementsDeallocated_ = true;
      break;
    case SessionEffectKind::kLoad:
      loaded_ = true;
      break;
    default:
      break;
  }
}

void StateTracker::commit() {
  for (const auto& effect : txEffects_) applyCommitted(effect);
  txEffects_.clear();
  savepoints_.clear();
}

void StateTracker::rollback() {
  txEffects_.clear();
  savepoints_.clear();
}

void StateTracker::applyCommitted(const sql::SessionEffect& effect) {
  switch (effect.kind) {
    case SessionEffectKind::kSet:
      setSetting(effect.name, effect.replaySql);
      break;
    case SessionEffectKind::kSetDefault:
      resetSetting(effect.name);
      break;
    case SessionEffectKind::kResetAll:
      resetAllSettings();
      opaqueSetting_ = false;
      break;
    case SessionEffectKind::kOpaqueSet:
      opaqueSetting_ = true;
      break;
    case SessionEffectKind::kSetRole:
      role_ = effect.value != "none";
      break;
    case SessionEffectKind::kResetRole:
      role_ = false;
      break;
    case SessionEffectKind::kSetSessionAuthorization:
      sessionAuthorization_ = true;
      break;
    case SessionEffectKind::kResetSessionAuthorization:
      sessionAuthorization_ = false;
      break;
    case SessionEffectKind::kListen:
      listens_.insert(effect.name);
      break;
    case SessionEffectKind::kUnlisten:
      listens_.erase(effect.name);
      break;
    case SessionEffectKind::kUnlistenAll:
      listens_.clear();
      break;
    case SessionEffectKind::kTempObject:
      ++tempObjects_;
      break;
    case SessionEffectKind::kDiscardTemp:
      tempObjects_ = 0;
      break;
    case SessionEffectKind::kHoldCursor:
      holdCursors_.insert(effect.name);
      break;
    case SessionEffectKind::kCloseCursor:
      holdCursors_.erase(effect.name);
      break;
    case SessionEffectKind::kCloseAllCursors:
      holdCursors_.clear();
      break;
    default:
      break;
  }
}

void StateTracker::setSetting(const std::string& name, std::string sql) {
  if (sql.empty()) {  // no way to say it again elsewhere
    opaqueSetting_ = true;
    return;
  }
  settings_[name] = std::move(sql);
  rebuildKey();
}

void StateTracker::resetSetting(const std::string& name) {
  auto startup = startup_.find(name);
  if (startup != startup_.end()) {
    // The server went back to its own default, the client's is its startup value.
    settings_[name] = startup->second;
    serverDiverged_ = true;
  } else {
    settings_.erase(name);
  }
  rebuildKey();
}

void StateTracker::resetAllSettings() {
  settings_ = startup_;
  if (!startup_.empty()) serverDiverged_ = true;
  rebuildKey();
}

void StateTracker::rebuildKey() {
  key_.clear();
  // A newline ends a trailing -- comment a client's own SET may carry.
  for (const auto& [name, sql] : settings_) key_ += sql + "\n;";
}

bool StateTracker::takeServerDiverged() {
  return std::exchange(serverDiverged_, false);
}

bool StateTracker::takeStatementsDeallocated() {
  return std::exchange(statementsDeallocated_, false);
}

bool StateTracker::pristine() const {
  return settings_ == startup_ && !pinned() && !serverDiverged_ && !statementsDeallocated_ &&
         pending_.empty() && !batchFailed_ && txEffects_.empty() && savepoints_.empty() &&
         statements_.empty() && portals_.empty();
}

bool StateTracker::pinned() const {
  return tempObjects_ > 0 || advisoryLocks_ > 0 || !listens_.empty() || !holdCursors_.empty() ||
         !sqlPrepared_.empty() || role_ || sessionAuthorization_ || opaqueSetting_ || loaded_;
}

std::string StateTracker::pinReason() const {
  std::string reasons;
  auto add = [&](bool on, std::string_view why) {
    if (!on) return;
    if (!reasons.empty()) reasons += ", ";
    reasons += why;
  };
  add(tempObjects_ > 0, "temporary object");
  add(advisoryLocks_ > 0, "advisory lock");
  add(!listens_.empty(), "LISTEN");
  add(!holdCursors_.empty(), "WITH HOLD cursor");
  add(!sqlPrepared_.empty(), "PREPARE");
  add(role_, "SET ROLE");
  add(sessionAuthorization_, "SESSION AUTHORIZATION");
  add(opaqueSetting_, "computed set_config");
  add(loaded_, "LOAD");
  return reasons;
}

}  // namespace pgswarm::proxy
