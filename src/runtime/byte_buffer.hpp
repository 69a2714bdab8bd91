// A receive buffer for one connection: bytes arrive at the back, whole
// messages are consumed from the front, and the unread tail is moved down
// only when the free space runs out. Knows nothing about PostgreSQL.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

namespace pgswarm::runtime {

class ByteBuffer {
 public:
  // Reads come in chunks of this size; storage of exactly this size is
  // recycled through a small per-thread cache (see release()).
  static constexpr std::size_t kChunk = 16384;

  explicit ByteBuffer(std::size_t initialCapacity = 8192) : storage_(initialCapacity) {}

  // Unconsumed bytes.
  [[nodiscard]] std::span<const std::byte> data() const {
    return {storage_.data() + begin_, end_ - begin_};
  }
  [[nodiscard]] std::size_t size() const { return end_ - begin_; }
  [[nodiscard]] bool empty() const { return begin_ == end_; }

  // Room for at least `min` more bytes at the back (compacts, then grows).
  [[nodiscard]] std::span<std::byte> prepare(std::size_t min) {
    if (storage_.empty() && min <= kChunk && !spares().empty()) {
      storage_ = std::move(spares().back());
      spares().pop_back();
    }
    if (storage_.size() - end_ < min) {
      if (begin_ > 0) {
        std::memmove(storage_.data(), storage_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      }
      if (storage_.size() - end_ < min) storage_.resize(end_ + std::max(min, storage_.size()));
    }
    return {storage_.data() + end_, storage_.size() - end_};
  }
  void commit(std::size_t n) { end_ += n; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void append(std::span<const std::byte> bytes) {
    auto room = prepare(bytes.size());
    std::memcpy(room.data(), bytes.data(), bytes.size());
    commit(bytes.size());
  }
  // Puts bytes back in front of the unread ones (a batch to send again).
  void prepend(std::span<const std::byte> bytes) {
    if (begin_ >= bytes.size()) {
      begin_ -= bytes.size();
      std::memcpy(storage_.data() + begin_, bytes.data(), bytes.size());
      return;
    }
    std::vector<std::byte> joined(std::max(storage_.size(), bytes.size() + size()));
    std::memcpy(joined.data(), bytes.data(), bytes.size());
    if (size() > 0) std::memcpy(joined.data() + bytes.size(), storage_.data() + begin_, size());
    end_ = bytes.size() + size();
    begin_ = 0;
    storage_.swap(joined);
  }
  // Gives memory back after a burst (a huge row), keeping what is unread.
  void shrinkTo(std::size_t capacity) {
    if (storage_.size() <= capacity || size() > capacity) return;
    std::vector<std::byte> smaller(capacity);
    std::memcpy(smaller.data(), storage_.data() + begin_, size());
    end_ = size();
    begin_ = 0;
    storage_.swap(smaller);
  }
  [[nodiscard]] std::size_t capacity() const { return storage_.size(); }

  // An empty buffer gives its memory up, so a connection that mostly waits
  // (an idle client) holds none; a chunk-sized block goes to this thread's
  // cache, where the next prepare() on this thread finds it without malloc.
  void release() {
    if (!empty() || storage_.empty()) return;
    begin_ = end_ = 0;
    auto& cache = spares();
    if (storage_.size() == kChunk && cache.size() < kMaxSpares) {
      cache.push_back(std::move(storage_));
    }
    std::vector<std::byte>().swap(storage_);
  }

 private:
  static constexpr std::size_t kMaxSpares = 32;  // 512 KiB per thread at most
  static std::vector<std::vector<std::byte>>& spares() {
    thread_local std::vector<std::vector<std::byte>> cache;
    return cache;
  }

  std::vector<std::byte> storage_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace pgswarm::runtime
