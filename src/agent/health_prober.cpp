// Off-loop probing of the local postgres: see health_prober.hpp.
#include "agent/health_prober.hpp"

namespace pgswarm::agent {
namespace {

constexpr int kStatementTimeoutMs = 2000;

}  // namespace

HealthProber::~HealthProber() {
  worker_.join();
}

void HealthProber::probe(asio::io_context& loop, bool ensureRole,
                         std::function<void(ProbeResult)> done) {
  asio::post(worker_, [this, &loop, ensureRole, done = std::move(done)]() mutable {
    auto result = probeOnWorker(ensureRole);
    asio::post(loop, [done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
  });
}

ProbeResult HealthProber::probeOnWorker(bool ensureRole) {
  ProbeResult result;
  // A kept connection dies with a restarted postgres: one fresh retry.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = conn_.has_value();
    if (!conn_) {
      auto conn = cluster::PgConnection::connect(localTarget(node_));
      if (!conn) {
        result.status = conn.error();
        return result;
      }
      if (auto timeout = conn->setStatementTimeout(kStatementTimeoutMs); !timeout) {
        result.status = timeout.error();
        return result;
      }
      conn_ = std::move(*conn);
    }
    result.status = cluster::probeNode(*conn_);
    if (result.status) break;
    conn_.reset();
    if (!reused) return result;
  }
  if (ensureRole && result.status->role == cluster::NodeRole::kPrimary) {
    auto ensured = ensureReplicationRole(*conn_, node_.config);
    result.roleEnsured = ensured.ok();
    if (!ensured) result.roleError = ensured.error().message;
  }
  return result;
}

}  // namespace pgswarm::agent
