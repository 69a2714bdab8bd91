// A first-in-first-out queue that allocates nothing until something is
// queued: std::deque allocates a block when constructed (about 600 bytes),
// which every idle client would pay for each queue it owns.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace pgswarm::runtime {

template <typename T>
class Fifo {
 public:
  [[nodiscard]] bool empty() const { return head_ == items_.size(); }
  [[nodiscard]] std::size_t size() const { return items_.size() - head_; }
  [[nodiscard]] T& front() { return items_[head_]; }
  [[nodiscard]] const T& front() const { return items_[head_]; }
  // push_back and pop_front keep std::deque's names on purpose: Fifo stands in for it.
  // NOLINTNEXTLINE(readability-identifier-naming)
  void push_back(T item) { items_.push_back(std::move(item)); }
  // NOLINTNEXTLINE(readability-identifier-naming)
  void pop_front() {
    items_[head_] = T{};  // release what the item owns now
    if (++head_ == items_.size()) {
      clear();
    } else if (head_ >= 32 && head_ * 2 >= items_.size()) {
      // Never drained (a long pipeline): drop the consumed half.
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    items_.clear();
    head_ = 0;
  }
  [[nodiscard]] auto begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  [[nodiscard]] auto end() { return items_.end(); }
  [[nodiscard]] auto begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  [[nodiscard]] auto end() const { return items_.end(); }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace pgswarm::runtime
