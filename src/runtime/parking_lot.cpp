// Idle connections in an epoll set of their own: see parking_lot.hpp.
#include "runtime/parking_lot.hpp"

#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace pgswarm::runtime {

namespace {

int makeEpoll() {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) {
    throw std::system_error(errno, std::system_category(), "epoll_create1 for the parking lot");
  }
  return fd;
}

}  // namespace

// watch_ owns the epoll fd and closes it.
ParkingLot::ParkingLot(asio::io_context& io, Wake wake)
    : wake_(wake), epoll_(makeEpoll()), watch_(io, epoll_) {}

ParkingLot::~ParkingLot() = default;

std::error_code ParkingLot::park(int fd, void* owner) {
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  event.data.ptr = owner;
  if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) {
    return {errno, std::system_category()};
  }
  ++parked_;
  arm();
  return {};
}

void ParkingLot::leave(int fd, void* owner) {
  for (int i = batchNext_; i < batchSize_; ++i) {
    if (batch_[static_cast<std::size_t>(i)].data.ptr == owner) {
      batch_[static_cast<std::size_t>(i)].data.ptr = nullptr;
    }
  }
  epoll_event ignored{};
  if (::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, &ignored) != 0) return;
  if (--parked_ == 0 && armed_) {
    std::error_code cancelled;
    watch_.cancel(cancelled);  // nothing left to watch: the loop may end
  }
}

void ParkingLot::arm() {
  if (armed_ || parked_ == 0) return;
  armed_ = true;
  watch_.async_wait(asio::posix::stream_descriptor::wait_read,
                    [this](std::error_code ec) { onReady(ec); });
}

// asio watches the set edge-triggered: it is read until a batch comes back
// short, or readiness left in it would announce itself no more.
void ParkingLot::onReady(std::error_code ec) {
  armed_ = false;
  if (ec == asio::error::operation_aborted && parked_ == 0) return;
  for (;;) {
    int count = ::epoll_wait(epoll_, batch_.data(), static_cast<int>(batch_.size()), 0);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) break;
    batchSize_ = count;
    for (batchNext_ = 0; batchNext_ < batchSize_;) {
      void* owner = batch_[static_cast<std::size_t>(batchNext_++)].data.ptr;
      if (owner != nullptr) wake_(owner);
    }
    batchSize_ = batchNext_ = 0;
    if (count < static_cast<int>(batch_.size())) break;
  }
  arm();
}

}  // namespace pgswarm::runtime
