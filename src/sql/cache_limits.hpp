// Limits and statistics of the sql caches (classifications, read intents).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pgswarm::sql {

struct CacheLimits {
  std::size_t maxEntries = 10'000;
  std::size_t maxBytes = std::size_t{16} * 1024 * 1024;  // keys plus approximate value sizes
  std::size_t maxQueryBytes = std::size_t{8} * 1024;  // longer texts are classified but never kept
};

struct CacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;
  std::uint64_t bypassed = 0;  // lookups of texts longer than maxQueryBytes
  std::size_t entries = 0;
  std::size_t bytes = 0;
};

// Heap bytes a string owns beyond the object (short strings live inside it).
inline std::size_t heapBytes(const std::string& text) {
  return text.capacity() > 15 ? text.capacity() + 1 : 0;
}

// The strings of a list, inline and heap bytes.
inline std::size_t heapBytes(const std::vector<std::string>& names) {
  std::size_t bytes = 0;
  for (const std::string& name : names) {
    // The string object itself, which the vector holds inline; not its length.
    bytes += sizeof(name) + heapBytes(name);  // NOLINT(bugprone-sizeof-container)
  }
  return bytes;
}

}  // namespace pgswarm::sql
