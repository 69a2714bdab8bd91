// The compose text of a stack (see stack_file.hpp), emitted with yaml-cpp so
// quoting is the library's job; every scalar taken from the user is quoted.
#include "deploy/stack_file.hpp"

#include <yaml-cpp/yaml.h>

#include <map>
#include <utility>
#include <vector>

namespace pgswarm::deploy {
namespace {

using Environment = std::vector<std::pair<std::string, std::string>>;

std::string secretPath(const char* secret) {
  return std::string("/run/secrets/") + secret;
}

std::string hostPort(const std::string& host, int port) {
  return host + ":" + std::to_string(port);
}

void emitStrings(YAML::Emitter& out, const std::vector<std::string>& items) {
  out << YAML::BeginSeq;
  for (const auto& item : items) out << YAML::DoubleQuoted << item;
  out << YAML::EndSeq;
}

void emitEnvironment(YAML::Emitter& out, const Environment& env) {
  out << YAML::Key << "environment" << YAML::Value << YAML::BeginMap;
  for (const auto& [name, value] : env) {
    out << YAML::Key << name << YAML::Value << YAML::DoubleQuoted << value;
  }
  out << YAML::EndMap;
}

void emitSecrets(YAML::Emitter& out, const std::vector<const char*>& secrets) {
  out << YAML::Key << "secrets" << YAML::Value << YAML::BeginSeq;
  for (const char* secret : secrets) out << secret;
  out << YAML::EndSeq;
}

// A failing check only counts after start_period: a replica's first
// pg_basebackup of a big database on an SD card can take many minutes.
void emitHealthcheck(YAML::Emitter& out, int port, const char* startPeriod) {
  out << YAML::Key << "healthcheck" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "test" << YAML::Value;
  emitStrings(out, {"CMD", "curl", "-fsS", "http://127.0.0.1:" + std::to_string(port) + "/health"});
  out << YAML::Key << "interval" << YAML::Value << "10s";
  out << YAML::Key << "timeout" << YAML::Value << "5s";
  out << YAML::Key << "retries" << YAML::Value << 3;
  out << YAML::Key << "start_period" << YAML::Value << startPeriod;
  out << YAML::EndMap;
}

// stop-first everywhere: two postgres on one volume would corrupt it, and two
// pools at once could both decide a failover.
void emitDeploy(YAML::Emitter& out, const std::string& pinnedHost) {
  out << YAML::Key << "deploy" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "replicas" << YAML::Value << 1;
  if (!pinnedHost.empty()) {
    out << YAML::Key << "placement" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "constraints" << YAML::Value;
    emitStrings(out, {"node.hostname == " + pinnedHost});
    out << YAML::EndMap;
  }
  out << YAML::Key << "restart_policy" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "condition" << YAML::Value << "any";
  out << YAML::Key << "delay" << YAML::Value << "5s";
  out << YAML::EndMap;
  out << YAML::Key << "update_config" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "parallelism" << YAML::Value << 1;
  out << YAML::Key << "order" << YAML::Value << "stop-first";
  out << YAML::Key << "failure_action" << YAML::Value << "pause";
  out << YAML::Key << "monitor" << YAML::Value << "60s";
  out << YAML::EndMap;
  out << YAML::EndMap;
}

// Fencing peers: the pool alone. It is the failover authority, so "this
// primary cannot reach the pool" is the exact reason to stop taking writes;
// and the databases' environment must not name the other hosts, or adding a
// host would change every database service and Swarm would restart them all
// at once.
std::string peersOf(const StackPlan& plan) {
  return hostPort(plan.poolService, kPostgresPort);
}

// The seed's variable names where the seed had one, so a service reads like
// the seed's `docker service create` line; secrets only through *_FILE.
Environment databaseEnvironment(const StackPlan& plan, const DatabaseService& db) {
  Environment env{
      {"PGSWARM_NODE_NAME", db.name},
      {"REPLICATION_MODE", db.role == DatabaseRole::kReplica ? "slave" : "master"},
  };
  if (db.role == DatabaseRole::kReplica) {
    env.insert(env.end(), {{"REPLICATION_HOST", plan.primary().name},
                           {"REPLICATION_PORT", std::to_string(kPostgresPort)},
                           {"REPLICATION_SSLMODE", "prefer"}});
  }
  env.insert(env.end(), {{"REPLICATION_USER", "replicator"},
                         {"REPLICATION_PASS_FILE", secretPath(kReplicationPasswordSecret)},
                         {"PG_PASSWORD_FILE", secretPath(kPostgresPasswordSecret)},
                         {"PGSWARM_NODE_API_TOKEN_FILE", secretPath(kAgentTokenSecret)}});
  // A shard is its own primary with no replica: nothing to fence against.
  if (db.role != DatabaseRole::kShard) env.emplace_back("PGSWARM_NODE_PEERS", peersOf(plan));
  // A lone primary is failed over by nobody: its fence (say, while the pool
  // starts) lifts as soon as the pool answers, not on the pool's word.
  if (db.role != DatabaseRole::kShard && plan.replicated().size() == 1) {
    env.emplace_back("PGSWARM_NODE_UNFENCE_AFTER_MS", "0");
  }
  return env;
}

// Where `pgswarm shard ...` finds the cluster inside the stack (the
// command's --coordinator, --nodes and --password-file): every replicated
// database, of which it takes the one that is primary now, so a failover
// of the coordinator does not leave the set-up step or an operator's
// `shard create` pointing at a replica.
Environment shardEnvironment(const StackPlan& plan) {
  std::string coordinators;
  for (const auto& db : plan.replicated()) {
    coordinators += (coordinators.empty() ? "" : ",") + hostPort(db.name, kPostgresPort);
  }
  std::string nodes;
  for (const auto& shard : plan.shards()) {
    nodes += (nodes.empty() ? "" : ",") + shard.name + "=" + hostPort(shard.name, kPostgresPort);
  }
  return {{"PGSWARM_SHARD_COORDINATOR", coordinators},
          {"PGSWARM_SHARD_NODES", nodes},
          {"PGSWARM_SHARD_PASSWORD_FILE", secretPath(kPostgresPasswordSecret)}};
}

// The pool's shard groups (one node each: a stack's shards have no
// replicas), named as the set-up step registers them.
std::string shardHosts(const StackPlan& plan) {
  std::string groups;
  for (const auto& shard : plan.shards()) {
    groups += (groups.empty() ? "" : ";") + shard.name + "=" + hostPort(shard.name, kPostgresPort);
  }
  return groups;
}

Environment poolEnvironment(const StackSpec& spec, const StackPlan& plan) {
  std::string hosts;
  std::string agents;
  for (const auto& db : plan.replicated()) {
    hosts += (hosts.empty() ? "" : ":") + hostPort(db.name, kPostgresPort);
    agents += (agents.empty() ? "" : ",") + hostPort(db.name, kAgentPort);
  }
  Environment env{
      {"HOSTS", hosts},
      {"USER", "postgres"},
      {"PASSWORD_FILE", secretPath(kPostgresPasswordSecret)},
      {"PGSWARM_POOL_HEALTH_CHECK_PASSWORD_FILE", secretPath(kPostgresPasswordSecret)},
      {"PGSWARM_POOL_LISTEN_ADDR", "0.0.0.0"},
      {"PGSWARM_POOL_LISTEN_PORT", std::to_string(kPostgresPort)},
      {"PGSWARM_POOL_HTTP_LISTEN", "0.0.0.0"},
      {"PGSWARM_POOL_HTTP_PORT", std::to_string(kPoolHttpPort)},
      {"PGSWARM_POOL_AGENTS", agents},
      {"PGSWARM_POOL_AGENT_TOKEN_FILE", secretPath(kAgentTokenSecret)},
      {"PGSWARM_POOL_SYNCHRONOUS_MODE", spec.sync ? "on" : "off"},
      {"PGSWARM_POOL_POOL_MODE", spec.poolMode},
  };
  if (spec.shards > 0) {
    env.emplace_back("PGSWARM_POOL_SHARD_HOSTS", shardHosts(plan));
    // So `docker exec POOL_CONTAINER pgswarm shard create ...` needs no
    // placement options: the pool's container has the password secret.
    auto shard = shardEnvironment(plan);
    env.insert(env.end(), shard.begin(), shard.end());
  }
  return env;
}

void emitDatabase(YAML::Emitter& out, const StackSpec& spec, const StackPlan& plan,
                  const DatabaseService& db) {
  out << YAML::Key << YAML::DoubleQuoted << db.name << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "image" << YAML::Value << YAML::DoubleQuoted << spec.image;
  out << YAML::Key << "command" << YAML::Value;
  emitStrings(out, {"node"});
  out << YAML::Key << "hostname" << YAML::Value << YAML::DoubleQuoted << db.name;
  emitEnvironment(out, databaseEnvironment(plan, db));
  emitSecrets(out, {kPostgresPasswordSecret, kReplicationPasswordSecret, kAgentTokenSecret});
  out << YAML::Key << "volumes" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << "volume";
  out << YAML::Key << "source" << YAML::Value << YAML::DoubleQuoted << db.volume();
  out << YAML::Key << "target" << YAML::Value << kVolumeTarget;
  out << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "networks" << YAML::Value;
  emitStrings(out, {spec.network});
  // postgres needs time for its shutdown checkpoint; Docker's 10 s default
  // would end it with SIGKILL and a crash recovery at the next start.
  out << YAML::Key << "stop_grace_period" << YAML::Value << "120s";
  emitHealthcheck(out, kAgentPort, "10m");
  emitDeploy(out, db.host);
  out << YAML::EndMap;
}

void emitPool(YAML::Emitter& out, const StackSpec& spec, const StackPlan& plan) {
  out << YAML::Key << plan.poolService << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "image" << YAML::Value << YAML::DoubleQuoted << spec.image;
  out << YAML::Key << "command" << YAML::Value;
  emitStrings(out, {"pool"});
  emitEnvironment(out, poolEnvironment(spec, plan));
  emitSecrets(out, {kPostgresPasswordSecret, kAgentTokenSecret});
  out << YAML::Key << "ports" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "target" << YAML::Value << kPostgresPort;
  out << YAML::Key << "published" << YAML::Value << spec.poolPort;
  out << YAML::Key << "protocol" << YAML::Value << "tcp";
  out << YAML::Key << "mode" << YAML::Value << "ingress";
  out << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "networks" << YAML::Value;
  emitStrings(out, {spec.network});
  emitHealthcheck(out, kPoolHttpPort, "30s");
  // No placement: Swarm restarts the pool on any node; it holds no state and
  // learns the roles again from its health checks.
  emitDeploy(out, "");
  out << YAML::EndMap;
}

// The sharding set-up step: `pgswarm shard setup` waits for the
// coordinator's primary and every shard node, then registers the nodes on
// the coordinator (postgres_fdw, a foreign server and user mapping each,
// the pgswarm catalog) and exits. A one-shot task: restarted only when it
// fails, run again by Swarm whenever its definition changes (a host or a
// shard added), which is harmless because every step is idempotent.
void emitShardSetup(YAML::Emitter& out, const StackSpec& spec, const StackPlan& plan) {
  out << YAML::Key << kShardSetupService << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "image" << YAML::Value << YAML::DoubleQuoted << spec.image;
  out << YAML::Key << "command" << YAML::Value;
  emitStrings(out, {"shard", "setup"});
  emitEnvironment(out, shardEnvironment(plan));
  emitSecrets(out, {kPostgresPasswordSecret});
  out << YAML::Key << "networks" << YAML::Value;
  emitStrings(out, {spec.network});
  // The image's check asks an agent or a pool, neither of which runs here.
  out << YAML::Key << "healthcheck" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "disable" << YAML::Value << true;
  out << YAML::EndMap;
  out << YAML::Key << "deploy" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "replicas" << YAML::Value << 1;
  out << YAML::Key << "restart_policy" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "condition" << YAML::Value << "on-failure";
  out << YAML::Key << "delay" << YAML::Value << "10s";
  out << YAML::EndMap;
  out << YAML::EndMap;
  out << YAML::EndMap;
}

void emitTopLevel(YAML::Emitter& out, const StackSpec& spec, const StackPlan& plan) {
  out << YAML::Key << "networks" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << YAML::DoubleQuoted << spec.network << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "driver" << YAML::Value << "overlay";
  out << YAML::Key << "attachable" << YAML::Value << true;
  out << YAML::EndMap << YAML::EndMap;
  out << YAML::Key << "volumes" << YAML::Value << YAML::BeginMap;
  for (const auto& db : plan.databases) {
    out << YAML::Key << YAML::DoubleQuoted << db.volume() << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "driver" << YAML::Value << "local";
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  out << YAML::Key << "secrets" << YAML::Value << YAML::BeginMap;
  for (const char* secret :
       {kPostgresPasswordSecret, kReplicationPasswordSecret, kAgentTokenSecret}) {
    out << YAML::Key << secret << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "external" << YAML::Value << true;
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

std::string header(const StackSpec& spec, const StackPlan& plan) {
  std::string text =
      "# Written by `pgswarm stack`. Before `docker stack deploy -c FILE pgswarm`,\n"
      "# create the three secrets once on a manager, e.g.\n";
  for (const char* secret :
       {kPostgresPasswordSecret, kReplicationPasswordSecret, kAgentTokenSecret}) {
    text += std::string("#   openssl rand -base64 24 | docker secret create ") + secret + " -\n";
  }
  text += "# Primary: " + plan.primary().name + " on " + plan.primary().host +
          "; the pool publishes port " + std::to_string(spec.poolPort) + ".\n";
  if (spec.shards > 0) {
    text +=
        "# shardN services are standalone primaries for sharded tables; the one-shot\n"
        "# shard-setup service registers them on the coordinator and exits. Then shard\n"
        "# a table from the pool's container (it has the settings and the secret):\n"
        "#   docker exec -it CONTAINER pgswarm shard create TABLE --key COLUMN --shards " +
        std::to_string(spec.shards) + "\n";
  }
  return text;
}

}  // namespace

Result<std::string> renderStack(const StackSpec& spec) {
  auto plan = planStack(spec);
  if (!plan) return plan.error();
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "version" << YAML::Value << YAML::DoubleQuoted << "3.8";
  out << YAML::Key << "services" << YAML::Value << YAML::BeginMap;
  for (const auto& db : plan->databases) emitDatabase(out, spec, *plan, db);
  emitPool(out, spec, *plan);
  if (spec.shards > 0) emitShardSetup(out, spec, *plan);
  out << YAML::EndMap;
  emitTopLevel(out, spec, *plan);
  out << YAML::EndMap;
  if (!out.good()) return makeError("cannot write the stack file: {}", out.GetLastError());
  return header(spec, *plan) + out.c_str() + "\n";
}

}  // namespace pgswarm::deploy
