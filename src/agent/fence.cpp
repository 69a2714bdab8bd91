// Fencing decisions and texts: see fence.hpp.
#include "agent/fence.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/pg_files.hpp"

namespace pgswarm::agent {
namespace {

using cluster::NodeRole;

// The setting name a postgresql.conf line assigns, "" for comments and blanks.
std::string_view settingName(std::string_view line) {
  auto text = line.substr(std::min(line.find_first_not_of(" \t"), line.size()));
  return text.substr(0, std::min(text.find_first_of(" \t="), text.size()));
}

template <typename Fn>
void forEachLine(const std::string& text, Fn&& fn) {
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    end = end == std::string::npos ? text.size() : end + 1;
    fn(std::string_view(text.data() + start, end - start));
    start = end;
  }
}

bool isFenceSetting(std::string_view name) {
  return name == kSyncNamesSetting || name == kReadOnlySetting;
}

// 'it''s' -> it's (postgresql.conf's quoting; ALTER SYSTEM always quotes).
std::string unquoted(std::string_view value) {
  if (value.size() < 2 || value.front() != '\'' || value.back() != '\'') return std::string(value);
  std::string out;
  value = value.substr(1, value.size() - 2);
  for (std::size_t i = 0; i < value.size(); ++i) {
    if ((value[i] == '\'' || value[i] == '\\') && i + 1 < value.size()) ++i;
    out += value[i];
  }
  return out;
}

nlohmann::json orNull(const std::optional<std::string>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

Result<std::optional<std::string>> optionalText(const nlohmann::json& json, const char* key) {
  if (!json.contains(key) || json[key].is_null()) return std::optional<std::string>{};
  if (!json[key].is_string()) return makeError("'{}' is not a string", key);
  return std::optional<std::string>(json[key].get<std::string>());
}

}  // namespace

const char* toString(FenceAction action) {
  switch (action) {
    case FenceAction::kStay:
      return "stay";
    case FenceAction::kFence:
      return "fence";
    case FenceAction::kUnfence:
      return "unfence";
  }
  return "unknown";
}

std::optional<PeerView> newerPrimary(const std::vector<PeerView>& peers, int64_t ours) {
  for (const auto& view : peers) {
    if (view.reachable && view.role == NodeRole::kPrimary && view.timeline > ours) return view;
  }
  return std::nullopt;
}

FenceDecision decideFence(const FenceFacts& facts) {
  if (facts.role == NodeRole::kUnknown) return {};
  if (facts.role == NodeRole::kReplica) {
    if (!facts.fenced) return {};
    return {FenceAction::kUnfence, "postgres runs as a replica now"};
  }
  bool reachable = false;
  for (const auto& view : facts.peers) reachable = reachable || view.reachable;
  if (!facts.fenced) {
    auto silent = facts.now - facts.lastReachable;
    if (reachable || facts.timeout.count() <= 0 || silent < facts.timeout) return {};
    return {FenceAction::kFence,
            fmt::format("no peer reachable for {} ms (fence timeout {} ms)",
                        std::chrono::duration_cast<std::chrono::milliseconds>(silent).count(),
                        facts.timeout.count())};
  }
  if (!reachable) return {};
  if (auto newer = newerPrimary(facts.peers, facts.timeline)) {
    return {FenceAction::kStay,
            fmt::format("{}:{} is a primary on timeline {}, newer than ours ({}): staying fenced "
                        "until a rejoin",
                        newer->peer.host, newer->peer.port, newer->timeline, facts.timeline)};
  }
  if (facts.poolVouches) {
    return {FenceAction::kUnfence,
            "the pool vouches for this primary (POST /unfence), a peer is reachable and no peer "
            "is a newer primary"};
  }
  auto steady = facts.now - facts.reachableSince;
  if (steady >= facts.liftAfter) {
    return {FenceAction::kUnfence,
            fmt::format("peers have been reachable for {} ms (unfence_after_ms {}) and none is a "
                        "newer primary",
                        std::chrono::duration_cast<std::chrono::milliseconds>(steady).count(),
                        facts.liftAfter.count())};
  }
  return {FenceAction::kStay,
          fmt::format("a peer is reachable again; waiting for the pool's word (POST /unfence), "
                      "or {} ms of reachable peers, before lifting the fence",
                      facts.liftAfter.count())};
}

std::string fenceRecordJson(const FenceRecord& record) {
  nlohmann::json json{{"fenced", true},
                      {"previous",
                       {{kSyncNamesSetting, orNull(record.syncNames)},
                        {kReadOnlySetting, orNull(record.readOnly)}}},
                      {"reason", record.reason}};
  return json.dump(2) + "\n";
}

Result<FenceRecord> parseFenceRecord(const std::string& text) {
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return makeError("not JSON");
  if (!json.contains("previous") || !json["previous"].is_object()) {
    return makeError("no 'previous' object");
  }
  const auto& previous = json["previous"];
  auto syncNames = optionalText(previous, kSyncNamesSetting);
  if (!syncNames) return syncNames.error();
  auto readOnly = optionalText(previous, kReadOnlySetting);
  if (!readOnly) return readOnly.error();
  FenceRecord record{.syncNames = *syncNames, .readOnly = *readOnly};
  if (json.contains("reason") && json["reason"].is_string())
    record.reason = json["reason"].get<std::string>();
  return record;
}

std::optional<std::string> previousSyncNames(const std::string& current) {
  if (current.empty() || current == kFencedStandbyName) return std::nullopt;
  return current;
}

std::optional<std::string> previousReadOnly(const std::string& current) {
  if (current.empty() || current == "off") return std::nullopt;
  return current;
}

std::optional<std::string> autoConfValue(const std::string& autoConf, const std::string& name) {
  std::optional<std::string> found;
  forEachLine(autoConf, [&](std::string_view line) {
    if (settingName(line) != name) return;
    auto equals = line.find('=');
    if (equals == std::string_view::npos) return;
    auto value = line.substr(equals + 1);
    auto first = value.find_first_not_of(" \t");
    auto last = value.find_last_not_of(" \t\r\n");
    if (first == std::string_view::npos) return;
    found = unquoted(value.substr(first, last - first + 1));  // the last line wins, as in postgres
  });
  return found;
}

std::string withoutFenceSettings(const std::string& autoConf) {
  std::string out;
  forEachLine(autoConf, [&](std::string_view line) {
    if (!isFenceSetting(settingName(line))) out.append(line);
  });
  return out;
}

std::string withFenceSettings(const std::string& autoConf) {
  auto out = withoutFenceSettings(autoConf);
  if (!out.empty() && out.back() != '\n') out += '\n';
  out += fmt::format("{} = {}\n{} = 'on'\n", kSyncNamesSetting, confLiteral(kFencedStandbyName),
                     kReadOnlySetting);
  return out;
}

std::optional<int64_t> controlDataTimeline(const std::string& output) {
  constexpr std::string_view kLabel = "Latest checkpoint's TimeLineID:";
  auto at = output.find(kLabel);
  if (at == std::string::npos) return std::nullopt;
  auto first = output.find_first_not_of(" \t", at + kLabel.size());
  if (first == std::string::npos) return std::nullopt;
  int64_t timeline = 0;
  auto [end, error] =
      std::from_chars(output.data() + first, output.data() + output.size(), timeline);
  if (error != std::errc() || end == output.data() + first || timeline <= 0) return std::nullopt;
  return timeline;
}

}  // namespace pgswarm::agent
