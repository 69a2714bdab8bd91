// Shared startup parameter sets: see parameter_sets.hpp.
#include "pool/parameter_sets.hpp"

#include <algorithm>
#include <tuple>

namespace pgswarm::pool {

bool ParameterSets::Less::operator()(const Parameters& a, const Parameters& b) const {
  return std::lexicographical_compare(
      a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
        return std::tie(x.name, x.value) < std::tie(y.name, y.value);
      });
}

std::shared_ptr<const Parameters> ParameterSets::intern(Parameters parameters) {
  auto it = sets_.find(parameters);
  if (it != sets_.end()) {
    if (auto live = it->second.lock()) return live;
  }
  auto made = std::make_shared<const Parameters>(parameters);
  if (it != sets_.end()) {
    it->second = made;
  } else {
    sets_.emplace(std::move(parameters), made);
    if (sets_.size() >= forgetAt_) forgetUnused();
  }
  return made;
}

// Amortised: a sweep whenever the map has doubled since the last one.
void ParameterSets::forgetUnused() {
  std::erase_if(sets_, [](const auto& entry) { return entry.second.expired(); });
  forgetAt_ = std::max(kFirstSweep, sets_.size() * 2);
}

}  // namespace pgswarm::pool
