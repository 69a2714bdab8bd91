// Topology snapshot helpers: LSN text <-> number, the single-primary rule and
// replica lag. Pure functions over values; no I/O, no clock, no logging.
#include "cluster/topology.hpp"

#include <fmt/format.h>

namespace pgswarm::cluster {
namespace {

// One half of "%X/%X": 1 to 8 hex digits, nothing else (no sign, no space).
std::optional<std::uint32_t> parseHexHalf(std::string_view text) {
  if (text.empty() || text.size() > 8) return std::nullopt;
  std::uint32_t value = 0;
  for (char c : text) {
    std::uint32_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<std::uint32_t>(c - '0');
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<std::uint32_t>(c - 'A' + 10);
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<std::uint32_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    value = (value << 4) | digit;
  }
  return value;
}

}  // namespace

std::optional<Lsn> parseLsn(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto high = parseHexHalf(text.substr(0, slash));
  auto low = parseHexHalf(text.substr(slash + 1));
  if (!high || !low) return std::nullopt;
  return (static_cast<Lsn>(*high) << 32) | *low;
}

std::string formatLsn(Lsn lsn) {
  return fmt::format("{:X}/{:X}", static_cast<std::uint32_t>(lsn >> 32),
                     static_cast<std::uint32_t>(lsn));
}

const char* toString(NodeHealth health) {
  switch (health) {
    case NodeHealth::kUp:
      return "up";
    case NodeHealth::kDown:
      return "down";
    case NodeHealth::kUnknown:
      return "unknown";
  }
  return "unknown";
}

int Topology::primaryIndex() const {
  int found = -1;
  bool tied = false;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto& node = nodes[i];
    if (node.health != NodeHealth::kUp || node.role != NodeRole::kPrimary || node.fenced) continue;
    if (found >= 0) {
      auto best = nodes[static_cast<std::size_t>(found)].timeline;
      if (node.timeline < best) continue;
      tied = node.timeline == best;
      if (tied) continue;
    }
    found = static_cast<int>(i);
  }
  return tied ? -1 : found;
}

void computeLag(Topology& topology) {
  int primary = topology.primaryIndex();
  std::optional<Lsn> primaryLsn;
  if (primary >= 0) primaryLsn = topology.nodes[static_cast<std::size_t>(primary)].currentLsn;
  for (auto& node : topology.nodes) {
    node.lagBytes.reset();
    // A down replica keeps the LSNs of its last good probe, but a lag
    // computed from them would describe the past as if it were now.
    if (node.role != NodeRole::kReplica || node.health != NodeHealth::kUp) continue;
    if (!primaryLsn || !node.replayLsn) continue;
    // The two probes ran at different instants; a replica probed after the
    // primary can be ahead of what we saw there, which is no lag at all.
    node.lagBytes = *primaryLsn > *node.replayLsn ? *primaryLsn - *node.replayLsn : 0;
  }
}

}  // namespace pgswarm::cluster
