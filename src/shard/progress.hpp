// Progress of a long copy, for people watching a terminal: a bar with
// rows, bytes, rate and ETA redrawn in place on a TTY, or a plain line
// every few seconds when the output is a file or a pipe.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "cluster/pg_client.hpp"

namespace pgswarm::shard {

class CopyProgressBar {
 public:
  CopyProgressBar(std::string label, std::int64_t totalRows, std::ostream& out, bool tty);
  void update(const cluster::CopyProgress& progress);
  void finish(const cluster::CopyProgress& progress);

  // "12.3 MB", "980 kB": sizes as people read them.
  [[nodiscard]] static std::string humanBytes(std::int64_t bytes);

 private:
  [[nodiscard]] std::string line(const cluster::CopyProgress& progress, bool done) const;

  std::string label_;
  std::int64_t totalRows_;
  std::ostream& out_;
  bool tty_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point lastDrawn_;
};

}  // namespace pgswarm::shard
