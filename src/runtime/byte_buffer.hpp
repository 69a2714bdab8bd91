// A receive buffer for one connection: bytes arrive at the back, whole
// messages are consumed from the front, and the unread tail is moved down
// only when the free space runs out. Knows nothing about PostgreSQL.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

namespace pgswarm::runtime {

class ByteBuffer {
 public:
  // Reads come in chunks of this size; storage of exactly this size is
  // recycled through a small per-thread cache (see release()).
  static constexpr std::size_t kChunk = 16384;

  explicit ByteBuffer(std::size_t initialCapacity = 8192)
      : storage_(allocate(initialCapacity)), capacity_(initialCapacity) {}

  // Unconsumed bytes.
  [[nodiscard]] std::span<const std::byte> data() const {
    return {storage_.get() + begin_, end_ - begin_};
  }
  [[nodiscard]] std::size_t size() const { return end_ - begin_; }
  [[nodiscard]] bool empty() const { return begin_ == end_; }

  // Room for at least `min` more bytes at the back (compacts, then grows).
  [[nodiscard]] std::span<std::byte> prepare(std::size_t min) {
    if (capacity_ == 0 && min <= kChunk && !spares().empty()) {
      storage_ = std::move(spares().back());
      capacity_ = kChunk;
      spares().pop_back();
    }
    if (capacity_ - end_ < min) {
      if (begin_ > 0) {
        std::memmove(storage_.get(), storage_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      }
      if (capacity_ - end_ < min) reallocate(end_ + std::max(min, capacity_));
    }
    return {storage_.get() + end_, capacity_ - end_};
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
      std::memcpy(storage_.get() + begin_, bytes.data(), bytes.size());
      return;
    }
    std::size_t capacity = std::max(capacity_, bytes.size() + size());
    auto joined = allocate(capacity);
    std::memcpy(joined.get(), bytes.data(), bytes.size());
    if (size() > 0) std::memcpy(joined.get() + bytes.size(), storage_.get() + begin_, size());
    end_ = bytes.size() + size();
    begin_ = 0;
    storage_ = std::move(joined);
    capacity_ = capacity;
  }
  // Gives memory back after a burst (a huge row), keeping what is unread.
  void shrinkTo(std::size_t capacity) {
    if (capacity_ <= capacity || size() > capacity) return;
    reallocate(capacity);
  }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }

  // An empty buffer gives its memory up, so a connection that mostly waits
  // (an idle client) holds none; a chunk-sized block goes to this thread's
  // cache, where the next prepare() on this thread finds it without malloc.
  void release() {
    if (!empty() || capacity_ == 0) return;
    begin_ = end_ = 0;
    auto& cache = spares();
    if (capacity_ == kChunk && cache.size() < kMaxSpares) cache.push_back(std::move(storage_));
    storage_.reset();
    capacity_ = 0;
  }

 private:
  using Storage = std::unique_ptr<std::byte[]>;
  static constexpr std::size_t kMaxSpares = 32;  // 512 KiB per thread at most
  static std::vector<Storage>& spares() {
    thread_local std::vector<Storage> cache;
    return cache;
  }
  // Not zeroed: bytes are only ever read after a read or a copy wrote them,
  // and pages nothing wrote to cost no memory (a spare that only ever held
  // short messages keeps one page resident, not four).
  static Storage allocate(std::size_t capacity) {
    return capacity == 0 ? Storage() : std::make_unique_for_overwrite<std::byte[]>(capacity);
  }
  // Moves the unread bytes to the front of new storage of `capacity`.
  void reallocate(std::size_t capacity) {
    auto bigger = allocate(capacity);
    if (size() > 0) std::memcpy(bigger.get(), storage_.get() + begin_, size());
    end_ = size();
    begin_ = 0;
    storage_ = std::move(bigger);
    capacity_ = capacity;
  }

  Storage storage_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace pgswarm::runtime
