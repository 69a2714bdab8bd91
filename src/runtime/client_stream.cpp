// Plain-or-TLS client connections: see client_stream.hpp.
#include "runtime/client_stream.hpp"

namespace pgswarm::runtime {

asio::awaitable<std::error_code> ClientStream::startTls(std::shared_ptr<asio::ssl::context> context,
                                                        std::chrono::milliseconds timeout) {
  wrap(std::move(context));
  co_return co_await handshake(asio::ssl::stream_base::server, timeout);
}

}  // namespace pgswarm::runtime
