// Idle connections watched by an epoll set of their own, outside asio.
//
// asio keeps state for every socket it has registered (168 bytes in 1.22)
// and a wait needs an operation object (88): a quarter of what an idle
// pooled client costs. A parked connection leaves asio (basic_socket::
// release) and joins this set, which asio watches as one descriptor; it
// then costs the kernel's epoll item and nothing in the process. Parking
// and unparking cost four epoll_ctl calls, so it is for connections idle
// long enough (a second or more) that the calls do not matter.
//
// Each fd is armed once (EPOLLONESHOT): `wake(owner)` is called once when
// it is readable or hung up, on the io_context's thread, and the fd stays
// in the set, silent, until its owner calls leave(). The owner of the fd
// closes it or gives it back to asio only after leave().
#pragma once

#include <array>
#include <cstddef>
#include <system_error>

#include <sys/epoll.h>

#include <asio.hpp>

namespace pgswarm::runtime {

class ParkingLot {
 public:
  using Wake = void (*)(void* owner);

  ParkingLot(asio::io_context& io, Wake wake);
  ~ParkingLot();
  ParkingLot(const ParkingLot&) = delete;
  ParkingLot& operator=(const ParkingLot&) = delete;

  // Watches `fd`, which asio must not be watching, for `owner`.
  [[nodiscard]] std::error_code park(int fd, void* owner);
  // Takes `fd` out: `owner` is not woken for it after this returns, even
  // when its readiness was already read from the kernel. Call it once per
  // park, woken or not.
  void leave(int fd, void* owner);
  [[nodiscard]] std::size_t size() const { return parked_; }

 private:
  void arm();
  void onReady(std::error_code ec);

  Wake wake_;
  int epoll_ = -1;
  asio::posix::stream_descriptor watch_;
  std::size_t parked_ = 0;
  bool armed_ = false;
  // The batch being woken: leave() clears an entry not reached yet, so a
  // wake that ends another owner cannot reach a freed one.
  std::array<epoll_event, 64> batch_{};
  int batchSize_ = 0;
  int batchNext_ = 0;
};

}  // namespace pgswarm::runtime
