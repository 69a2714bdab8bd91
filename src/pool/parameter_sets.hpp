// Startup parameter sets, one shared copy of each: most clients of a pool
// send the same parameters, and an idle client should not hold its own
// copy of them. One per worker thread; not thread-safe.
#pragma once

#include <cstddef>
#include <map>
#include <memory>

#include "pool/server_connection.hpp"

namespace pgswarm::pool {

class ParameterSets {
 public:
  // The shared copy equal to `parameters`, made when no live one exists.
  [[nodiscard]] std::shared_ptr<const Parameters> intern(Parameters parameters);
  // Distinct sets remembered now (some may have no holder left).
  [[nodiscard]] std::size_t size() const { return sets_.size(); }

 private:
  struct Less {
    bool operator()(const Parameters& a, const Parameters& b) const;
  };
  void forgetUnused();

  std::map<Parameters, std::weak_ptr<const Parameters>, Less> sets_;
  std::size_t forgetAt_ = kFirstSweep;
  static constexpr std::size_t kFirstSweep = 64;
};

}  // namespace pgswarm::pool
