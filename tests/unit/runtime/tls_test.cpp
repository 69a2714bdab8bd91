// TLS for client connections without processes: tls_protocols parsing, the
// private-key permission rule, contexts from good and bad PEM files (made
// here with OpenSSL), and a loopback handshake through ClientStream with
// data both ways, next to a plain ClientStream on the same calls.
#include "runtime/tls.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "runtime/client_stream.hpp"
#include "runtime/server_stream.hpp"
#include "runtime/stream.hpp"

namespace pgswarm::runtime {
namespace {

using namespace std::chrono_literals;

TEST(TlsProtocols, SecureIsTls12And13) {
  auto versions = parseTlsProtocols("secure");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->min, TLS1_2_VERSION);
  EXPECT_EQ(versions->max, TLS1_3_VERSION);
  EXPECT_EQ(parseTlsProtocols("all")->min, TLS1_2_VERSION);
}

TEST(TlsProtocols, ListsAndOldVersions) {
  auto only13 = parseTlsProtocols("tlsv1.3");
  ASSERT_TRUE(only13.ok());
  EXPECT_EQ(only13->min, TLS1_3_VERSION);
  EXPECT_EQ(only13->max, TLS1_3_VERSION);
  auto both = parseTlsProtocols(" TLSv1.3 , tlsv1.2");
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->min, TLS1_2_VERSION);
  EXPECT_EQ(both->max, TLS1_3_VERSION);
  auto old = parseTlsProtocols("tlsv1.1,tlsv1.2");
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.error().message.find("TLS 1.2 is the oldest"), std::string::npos);
  EXPECT_FALSE(parseTlsProtocols("sslv3").ok());
}

TEST(TlsKeyFile, PostgresPermissionRule) {
  const uid_t me = 1000;
  EXPECT_TRUE(checkKeyFileMode("k", 0100600, me, me).ok());
  EXPECT_TRUE(checkKeyFileMode("k", 0100400, me, me).ok());
  EXPECT_FALSE(checkKeyFileMode("k", 0100640, me, me).ok());
  EXPECT_FALSE(checkKeyFileMode("k", 0100604, me, me).ok());
  EXPECT_FALSE(checkKeyFileMode("k", 0100644, me, me).ok());
  EXPECT_TRUE(checkKeyFileMode("k", 0100640, 0, me).ok());  // root-owned, group read
  EXPECT_FALSE(checkKeyFileMode("k", 0100660, 0, me).ok());
  EXPECT_FALSE(checkKeyFileMode("k", 0100644, 0, me).ok());
  EXPECT_FALSE(checkKeyFileMode("k", 0100600, 4242, me).ok());  // someone else's key
  auto refused = checkKeyFileMode("/etc/key.pem", 0100644, me, me);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("has group or world access"), std::string::npos);
}

// A self-signed P-256 certificate and its key as PEM files in a fresh folder.
class PemFiles {
 public:
  PemFiles() {
    char pattern[] = "/tmp/pgswarm-tls-XXXXXX";
    dir_ = ::mkdtemp(pattern);
    cert_ = dir_ + "/server.crt";
    key_ = dir_ + "/server.key";
    otherKey_ = dir_ + "/other.key";
    EVP_PKEY* key = EVP_EC_gen("P-256");
    EVP_PKEY* other = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    writePem(cert_, [&](FILE* f) { PEM_write_X509(f, cert); });
    writePem(key_,
             [&](FILE* f) { PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr); });
    writePem(otherKey_, [&](FILE* f) {
      PEM_write_PrivateKey(f, other, nullptr, nullptr, 0, nullptr, nullptr);
    });
    ::chmod(key_.c_str(), 0600);
    ::chmod(otherKey_.c_str(), 0600);
    X509_free(cert);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
  }
  ~PemFiles() { std::filesystem::remove_all(dir_); }
  PemFiles(const PemFiles&) = delete;
  PemFiles& operator=(const PemFiles&) = delete;

  [[nodiscard]] TlsServerFiles files() const { return {.certFile = cert_, .keyFile = key_}; }
  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] const std::string& cert() const { return cert_; }
  [[nodiscard]] const std::string& key() const { return key_; }
  [[nodiscard]] const std::string& otherKey() const { return otherKey_; }

 private:
  template <typename Write>
  static void writePem(const std::string& path, Write write) {
    FILE* f = std::fopen(path.c_str(), "w");
    write(f);
    std::fclose(f);
  }
  std::string dir_;
  std::string cert_;
  std::string key_;
  std::string otherKey_;
};

TEST(TlsContext, LoadsGoodFiles) {
  PemFiles pem;
  auto context = makeTlsServerContext(pem.files());
  ASSERT_TRUE(context.ok()) << context.error().message;
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*context)->native_handle()), TLS1_2_VERSION);
}

TEST(TlsContext, RefusesMissingFilesOpenKeysAndMismatches) {
  PemFiles pem;
  auto files = pem.files();
  files.certFile = pem.dir() + "/missing.crt";
  auto missing = makeTlsServerContext(files);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("missing.crt"), std::string::npos);

  files = pem.files();
  ::chmod(pem.key().c_str(), 0644);
  auto open = makeTlsServerContext(files);
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.error().message.find("group or world access"), std::string::npos);
  ::chmod(pem.key().c_str(), 0600);

  files.keyFile = pem.otherKey();
  auto mismatch = makeTlsServerContext(files);
  ASSERT_FALSE(mismatch.ok());
  // OpenSSL 3 refuses the key on loading ("key values mismatch").
  EXPECT_NE(mismatch.error().message.find("other.key"), std::string::npos)
      << mismatch.error().message;

  files = pem.files();
  files.keyFile = pem.cert();  // not a key at all
  ::chmod(pem.cert().c_str(), 0600);
  EXPECT_FALSE(makeTlsServerContext(files).ok());

  files = pem.files();
  files.caFile = pem.dir() + "/missing-ca.crt";
  EXPECT_FALSE(makeTlsServerContext(files).ok());
  files.caFile = pem.cert();
  EXPECT_TRUE(makeTlsServerContext(files).ok());
}

// A connected pair of TCP sockets on loopback: the pool's end, the client's.
std::pair<Socket, asio::ip::tcp::socket> socketPair(asio::io_context& io) {
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
  asio::ip::tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  return {acceptor.accept(io), std::move(client)};
}

TEST(ClientStream, TlsHandshakeAndDataBothWays) {
  PemFiles pem;
  auto context = makeTlsServerContext(pem.files());
  ASSERT_TRUE(context.ok()) << context.error().message;
  asio::io_context io;
  auto [serverSide, clientSide] = socketPair(io);
  ClientStream server(std::move(serverSide));
  asio::ssl::context clientContext(asio::ssl::context::tls_client);
  asio::ssl::stream<asio::ip::tcp::socket> client(std::move(clientSide), clientContext);

  std::string received;
  std::string echoed;
  std::error_code handshake;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        handshake = co_await server.startTls(*context, 5s);
        if (handshake) co_return;
        ByteBuffer in;
        while (in.size() < 5) {
          if (co_await readSomeWithin(server, in, 5s)) co_return;
        }
        received.assign(reinterpret_cast<const char*>(in.data().data()), in.size());
        (void)co_await writeAll(server, std::string_view("world"));
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::error_code ec;
        co_await client.async_handshake(asio::ssl::stream_base::client,
                                        asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        co_await asio::async_write(client, asio::buffer(std::string_view("hello")),
                                   asio::redirect_error(asio::use_awaitable, ec));
        char reply[5];
        co_await asio::async_read(client, asio::buffer(reply),
                                  asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) echoed.assign(reply, sizeof(reply));
      },
      asio::detached);
  io.run_for(10s);
  EXPECT_FALSE(handshake) << handshake.message();
  EXPECT_TRUE(server.tls());
  EXPECT_EQ(server.tlsDescription().rfind("TLSv1.3/", 0), 0U) << server.tlsDescription();
  EXPECT_EQ(received, "hello");
  EXPECT_EQ(echoed, "world");
}

TEST(ClientStream, HandshakeGivesUpAfterTheTimeout) {
  PemFiles pem;
  auto context = makeTlsServerContext(pem.files());
  ASSERT_TRUE(context.ok());
  asio::io_context io;
  auto [serverSide, silentClient] = socketPair(io);
  ClientStream server(std::move(serverSide));
  std::error_code handshake;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { handshake = co_await server.startTls(*context, 100ms); },
      asio::detached);
  io.run_for(5s);
  EXPECT_EQ(handshake, make_error_code(asio::error::timed_out));
}

TEST(ClientStream, PlainStreamUsesTheSameCalls) {
  asio::io_context io;
  auto [serverSide, clientSide] = socketPair(io);
  ClientStream server(std::move(serverSide));
  std::string received;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        ByteBuffer in;
        while (in.size() < 5) {
          if (co_await readSome(server, in)) co_return;
        }
        received.assign(reinterpret_cast<const char*>(in.data().data()), in.size());
        (void)co_await writeAll(server, std::string_view("world"));
      },
      asio::detached);
  asio::write(clientSide, asio::buffer(std::string_view("hello")));
  io.run_for(5s);
  char reply[5];
  asio::read(clientSide, asio::buffer(reply));
  EXPECT_FALSE(server.tls());
  EXPECT_EQ(received, "hello");
  EXPECT_EQ(std::string(reply, 5), "world");
}

TEST(TlsClientContext, LoadsRootsAndAKeyPair) {
  PemFiles pem;
  auto verifying = makeTlsClientContext({.caFile = pem.cert(), .verifyPeer = true});
  ASSERT_TRUE(verifying.ok()) << verifying.error().message;
  EXPECT_EQ(SSL_CTX_get_verify_mode((*verifying)->native_handle()), SSL_VERIFY_PEER);
  auto presenting = makeTlsClientContext({.certFile = pem.cert(), .keyFile = pem.key()});
  ASSERT_TRUE(presenting.ok()) << presenting.error().message;
  EXPECT_EQ(SSL_CTX_get_verify_mode((*presenting)->native_handle()), SSL_VERIFY_NONE);
  auto missing = makeTlsClientContext({.caFile = pem.dir() + "/missing.crt"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("missing.crt"), std::string::npos);
  EXPECT_FALSE(makeTlsClientContext({.certFile = pem.cert()}).ok());  // no key
  EXPECT_FALSE(makeTlsClientContext({.protocols = "tlsv1"}).ok());
}

// The client end of socketPair as the pool's server connections hold it.
ServerSocket asServerSocket(asio::io_context& io, asio::ip::tcp::socket socket) {
  auto protocol = socket.local_endpoint().protocol();
  return {io, asio::generic::stream_protocol(protocol.family(), protocol.protocol()),
          socket.release()};
}

// A ServerStream handshake to a ClientStream serving pem's certificate;
// the client's error, and both streams for more.
struct Handshake {
  std::error_code error;
  std::unique_ptr<ClientStream> server;
  std::unique_ptr<ServerStream> client;
};

Handshake handshakeTo(asio::io_context& io, const PemFiles& pem, const std::string& host,
                      bool verifyHost, TlsClientFiles files) {
  auto serverContext = makeTlsServerContext(pem.files());
  auto clientContext = makeTlsClientContext(files);
  EXPECT_TRUE(serverContext.ok() && clientContext.ok());
  auto [serverSide, clientSide] = socketPair(io);
  Handshake result{
      .server = std::make_unique<ClientStream>(std::move(serverSide)),
      .client = std::make_unique<ServerStream>(asServerSocket(io, std::move(clientSide)))};
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        (void)co_await result.server->startTls(*serverContext, 5s);
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        result.error = co_await result.client->startTls(*clientContext, host, verifyHost, 5s);
      },
      asio::detached);
  io.run_for(5s);
  io.restart();
  return result;
}

TEST(ServerStream, VerifyFullChecksTheNameAndQuietSeesPendingRecords) {
  PemFiles pem;  // self-signed, CN=localhost, no SAN: the CN is the name
  asio::io_context io;
  auto made = handshakeTo(io, pem, "localhost", true, {.caFile = pem.cert(), .verifyPeer = true});
  ASSERT_FALSE(made.error) << made.error.message() << " " << made.client->verifyFailure();
  EXPECT_TRUE(made.client->tls());
  EXPECT_EQ(made.client->tlsDescription().rfind("TLSv1.3/", 0), 0U);
  ByteBuffer input;
  EXPECT_TRUE(made.client->quiet(input));
  EXPECT_TRUE(input.empty());
  // One record from the server while the connection is idle: not quiet, and
  // its bytes are kept rather than lost.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        (void)co_await writeAll(*made.server, std::string_view("E"));
      },
      asio::detached);
  io.run_for(1s);
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(made.client->quiet(input));
  ASSERT_EQ(input.size(), 1U);
  EXPECT_EQ(static_cast<char>(input.data()[0]), 'E');
}

TEST(ServerStream, VerifyFullRefusesAnotherName) {
  PemFiles pem;
  asio::io_context io;
  auto made =
      handshakeTo(io, pem, "elsewhere.example", true, {.caFile = pem.cert(), .verifyPeer = true});
  EXPECT_TRUE(made.error);
  EXPECT_EQ(made.client->verifyFailure(), "hostname mismatch");
}

TEST(ServerStream, VerifyCaRefusesAnUnknownRootButRequireDoesNot) {
  PemFiles pem;
  PemFiles other;
  asio::io_context io;
  auto refused =
      handshakeTo(io, pem, "localhost", false, {.caFile = other.cert(), .verifyPeer = true});
  EXPECT_TRUE(refused.error);
  EXPECT_FALSE(refused.client->verifyFailure().empty());
  auto unchecked = handshakeTo(io, pem, "localhost", false, {});
  EXPECT_FALSE(unchecked.error) << unchecked.error.message();
  EXPECT_TRUE(unchecked.client->verifyFailure().empty());
}

// quiet() trusts what the event loop's last poll saw (a pool's worker polls
// between any two handlers), so the test lets the loop poll before asking.
TEST(ServerStream, PlainQuietPeeksWithoutReading) {
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  auto letTheLoopPoll = [&io] {
    std::this_thread::sleep_for(50ms);
    io.poll();
  };
  auto [serverSide, clientSide] = socketPair(io);
  ServerStream client(asServerSocket(io, std::move(clientSide)));
  ByteBuffer input;
  EXPECT_TRUE(client.quiet(input));
  letTheLoopPoll();
  EXPECT_TRUE(client.quiet(input));  // now from the reactor alone, no peek
  asio::write(serverSide, asio::buffer(std::string_view("E")));
  letTheLoopPoll();
  EXPECT_FALSE(client.quiet(input));
  EXPECT_TRUE(input.empty());  // peeked, still on the socket
  serverSide.close();
  letTheLoopPoll();
  EXPECT_FALSE(client.quiet(input));
}

}  // namespace
}  // namespace pgswarm::runtime
