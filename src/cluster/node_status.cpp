// Node probing over libpq: see node_status.hpp.
#include "cluster/node_status.hpp"

namespace pgswarm::cluster {
namespace {

std::optional<int64_t> toInt(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  return std::stoll(*text);
}

std::optional<double> toDouble(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  return std::stod(*text);
}

// One round trip for the facts every node has.
constexpr const char* kCommonQuery = R"sql(
SELECT pg_is_in_recovery() AS in_recovery,
       extract(epoch FROM now() - pg_postmaster_start_time()) AS uptime,
       current_setting('server_version') AS version,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint
       END AS primary_timeline,
       pg_last_wal_receive_lsn()::text AS receive_lsn,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused,
       CASE WHEN pg_is_in_recovery()
            THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END AS replay_delay,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_timeline
)sql";

constexpr const char* kReceiverQuery = R"sql(
SELECT status, received_tli, sender_host, sender_port FROM pg_stat_wal_receiver
)sql";

constexpr const char* kStandbysQuery = R"sql(
SELECT application_name, coalesce(host(client_addr), 'local') AS client_addr, state, sync_state,
       sent_lsn::text AS sent_lsn, replay_lsn::text AS replay_lsn,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes,
       extract(epoch FROM replay_lag) AS lag_seconds
FROM pg_stat_replication ORDER BY application_name
)sql";

Status addReceiver(PgConnection& conn, NodeStatus& status) {
  auto rows = conn.query(kReceiverQuery);
  if (!rows) return rows.error();
  if (rows->empty()) return Ok{};
  status.streaming = rows->text(0, "status") == "streaming";
  if (auto tli = toInt(rows->get(0, "received_tli"))) status.timeline = *tli;
  status.upstream = rows->text(0, "sender_host") + ":" + rows->text(0, "sender_port");
  return Ok{};
}

Status addStandbys(PgConnection& conn, NodeStatus& status) {
  auto rows = conn.query(kStandbysQuery);
  if (!rows) return rows.error();
  for (std::size_t i = 0; i < rows->size(); ++i) {
    status.standbys.push_back(StandbyInfo{
        .applicationName = rows->text(i, "application_name"),
        .clientAddress = rows->text(i, "client_addr"),
        .state = rows->text(i, "state"),
        .syncState = rows->text(i, "sync_state"),
        .sentLsn = rows->text(i, "sent_lsn"),
        .replayLsn = rows->text(i, "replay_lsn"),
        .replayLagBytes = toInt(rows->get(i, "lag_bytes")),
        .replayLagSeconds = toDouble(rows->get(i, "lag_seconds")),
    });
  }
  return Ok{};
}

}  // namespace

const char* toString(NodeRole role) {
  switch (role) {
    case NodeRole::kPrimary:
      return "primary";
    case NodeRole::kReplica:
      return "replica";
    case NodeRole::kUnknown:
      return "unknown";
  }
  return "unknown";
}

Result<NodeStatus> probeNode(PgConnection& conn) {
  auto rows = conn.query(kCommonQuery);
  if (!rows) return rows.error();
  NodeStatus status;
  bool recovering = rows->text(0, "in_recovery") == "t";
  status.role = recovering ? NodeRole::kReplica : NodeRole::kPrimary;
  status.uptimeSeconds = toDouble(rows->get(0, "uptime")).value_or(0);
  status.serverVersion = rows->text(0, "version");
  status.currentLsn = rows->text(0, "current_lsn");
  status.receiveLsn = rows->text(0, "receive_lsn");
  status.replayLsn = rows->text(0, "replay_lsn");
  status.replayPaused = rows->text(0, "paused") == "t";
  status.replayDelaySeconds = toDouble(rows->get(0, "replay_delay"));
  status.timeline =
      toInt(recovering ? rows->get(0, "checkpoint_timeline") : rows->get(0, "primary_timeline"))
          .value_or(0);
  auto extra = recovering ? addReceiver(conn, status) : addStandbys(conn, status);
  if (!extra) return extra.error();
  return status;
}

nlohmann::json toJson(const StandbyInfo& standby) {
  nlohmann::json out{{"application_name", standby.applicationName},
                     {"client_addr", standby.clientAddress},
                     {"state", standby.state},
                     {"sync_state", standby.syncState},
                     {"sent_lsn", standby.sentLsn},
                     {"replay_lsn", standby.replayLsn},
                     {"lag_bytes", nullptr},
                     {"lag_seconds", nullptr}};
  if (standby.replayLagBytes) out["lag_bytes"] = *standby.replayLagBytes;
  if (standby.replayLagSeconds) out["lag_seconds"] = *standby.replayLagSeconds;
  return out;
}

nlohmann::json toJson(const NodeStatus& status) {
  nlohmann::json out{{"role", toString(status.role)},
                     {"timeline", status.timeline},
                     {"uptime_seconds", status.uptimeSeconds},
                     {"server_version", status.serverVersion}};
  if (status.role == NodeRole::kPrimary) {
    out["current_lsn"] = status.currentLsn;
    out["standbys"] = nlohmann::json::array();
    for (const auto& standby : status.standbys) out["standbys"].push_back(toJson(standby));
  } else {
    out["receive_lsn"] = status.receiveLsn;
    out["replay_lsn"] = status.replayLsn;
    out["streaming"] = status.streaming;
    out["upstream"] = status.upstream;
    out["replay_paused"] = status.replayPaused;
    out["replay_delay_seconds"] = status.replayDelaySeconds
                                      ? nlohmann::json(*status.replayDelaySeconds)
                                      : nlohmann::json(nullptr);
  }
  return out;
}

}  // namespace pgswarm::cluster
