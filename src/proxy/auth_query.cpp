// auth_query: see auth_query.hpp.
#include "proxy/auth_query.hpp"

#include "protocol/backend.hpp"
#include "protocol/error_response.hpp"
#include "protocol/frontend.hpp"
#include "protocol/writer.hpp"

namespace pgswarm::proxy {
namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

AuthQueryResult failed(std::string error) {
  return AuthQueryResult{.kind = AuthQueryResult::Kind::kFailed, .error = std::move(error)};
}

}  // namespace

std::string encodeAuthQuery(std::string_view query, std::string_view user) {
  std::string out;
  protocol::Writer writer(out);
  // Type 0: the server infers the parameter's type from the query ($1 = name).
  (void)protocol::Parse{.statement = "", .sql = query, .parameterTypes = {0}}.encode(writer);
  (void)protocol::Bind{.portal = "", .statement = "", .parameters = {user}}.encode(writer);
  (void)protocol::Execute{.portal = "", .maxRows = 0}.encode(writer);
  (void)protocol::Sync{}.encode(writer);
  return out;
}

AuthQueryReply::Step AuthQueryReply::fail(std::string reason) {
  broken_ = std::move(reason);
  return Step::kBroken;
}

AuthQueryReply::Step AuthQueryReply::handle(const protocol::Frame& frame) {
  switch (frame.type) {
    case protocol::kParseComplete:
    case protocol::kBindComplete:
    case protocol::kCommandComplete:
    case protocol::kRowDescription:
    case protocol::kNoData:
    case protocol::kNoticeResponse:
    case protocol::kParameterStatus:
    case protocol::kNotificationResponse:
      return Step::kContinue;
    case protocol::kEmptyQueryResponse:
      badReply_ = "auth_query is empty";
      return Step::kContinue;
    case protocol::kDataRow: {
      auto row = protocol::DataRow::parse(frame.body);
      if (!row) return fail("malformed DataRow");
      if (++rows_ > 1) {
        badReply_ = "auth_query returned more than one row for user \"" + user_ + "\"";
        return Step::kContinue;
      }
      if (row->columns.size() < 2) {
        badReply_ = "auth_query must return two columns (user name, secret)";
        return Step::kContinue;
      }
      // A query that ignores $1 must not log anyone in with someone else's secret.
      if (!row->columns[0] || *row->columns[0] != user_) {
        badReply_ = "auth_query returned a row for another user than \"" + user_ + "\"";
        return Step::kContinue;
      }
      if (row->columns[1]) secretText_ = std::string(*row->columns[1]);
      return Step::kContinue;
    }
    case protocol::kErrorResponse: {
      auto error = protocol::ErrorResponse::parse(frame.body);
      serverError_ = error ? std::string(error->fields.message()) : "malformed ErrorResponse";
      return Step::kContinue;
    }
    case protocol::kReadyForQuery: {
      auto ready = protocol::ReadyForQuery::parse(frame.body);
      if (!ready) return fail("malformed ReadyForQuery");
      reusable_ = ready->status == protocol::TransactionStatus::kIdle;
      return Step::kDone;
    }
    default:
      return fail(std::string("unexpected message '") + frame.type + "' in the auth_query reply");
  }
}

AuthQueryResult AuthQueryReply::result() const {
  if (!serverError_.empty()) return failed("auth_query failed: " + serverError_);
  if (!badReply_.empty()) return failed(badReply_);
  if (rows_ == 0 || !secretText_ || secretText_->empty()) {
    return AuthQueryResult{.kind = AuthQueryResult::Kind::kNotFound};
  }
  auto secret = auth::parseSecret(*secretText_);
  if (!secret) {
    return failed("auth_query returned a malformed secret for user \"" + user_ +
                  "\": " + secret.error().message);
  }
  return AuthQueryResult{.kind = AuthQueryResult::Kind::kFound, .secret = std::move(*secret)};
}

asio::awaitable<AuthQueryResult> runAuthQuery(pool::ServerConnection& conn, std::string_view query,
                                              std::string user, Clock::time_point deadline,
                                              bool& reusable) {
  reusable = false;
  auto request = encodeAuthQuery(query, user);
  if (auto ec = co_await runtime::writeAll(conn.stream(), request)) {
    co_return failed("cannot send auth_query: " + ec.message());
  }
  AuthQueryReply reply(std::move(user));
  auto& input = conn.input();
  for (;;) {
    auto frame = protocol::splitFrame(input.data());
    while (frame.status == protocol::FrameStatus::kReady) {
      auto step = reply.handle(frame.frame);
      input.consume(frame.frame.length);
      if (step == AuthQueryReply::Step::kBroken) co_return failed(reply.brokenReason());
      if (step == AuthQueryReply::Step::kDone) {
        reusable = reply.reusable() && input.data().empty();
        co_return reply.result();
      }
      frame = protocol::splitFrame(input.data());
    }
    if (frame.status == protocol::FrameStatus::kMalformed) {
      co_return failed("malformed message in the auth_query reply");
    }
    if (auto ec = co_await runtime::readSomeWithin(conn.stream(), input, remaining(deadline))) {
      co_return failed("auth_query reply: " + ec.message());
    }
  }
}

std::optional<std::optional<auth::Secret>> SecretCache::find(const std::string& user,
                                                             Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(user);
  if (it == entries_.end() || it->second.expires <= now) return std::nullopt;
  return it->second.secret;
}

void SecretCache::store(const std::string& user, std::optional<auth::Secret> secret,
                        Clock::time_point now) {
  if (ttl_.count() <= 0) return;
  std::lock_guard lock(mutex_);
  if (entries_.size() >= kMaxEntries) {
    std::erase_if(entries_, [&](const auto& entry) { return entry.second.expires <= now; });
    // Still full of fresh entries (a storm of guessed names): start over
    // rather than grow without bound.
    if (entries_.size() >= kMaxEntries) entries_.clear();
  }
  entries_[user] = Entry{std::move(secret), now + ttl_};
}

void SecretCache::clear() {
  std::lock_guard lock(mutex_);
  entries_.clear();
}

std::size_t SecretCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace pgswarm::proxy
