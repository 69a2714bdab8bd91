// One client connection, start to end, as one readable coroutine: startup
// (SSLRequest answered 'S' and TLS when configured, else 'N'; GSSENCRequest
// 'N'; CancelRequest routed), login, then
// the relay. The relay is two loops over one state: client -> server
// (acquires a server when it has none) and server -> client, which runs
// only while a server is attached (it gives the server back at
// ReadyForQuery 'I' in transaction mode and ends). Messages are only
// framed, never copied: whole and partial messages are forwarded straight
// from the receive buffers, so huge rows and COPY streams are not buffered.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <asio.hpp>

#include "pool/server_pool.hpp"
#include "protocol/backend.hpp"
#include "protocol/frame.hpp"
#include "protocol/frontend.hpp"
#include "proxy/cancel_registry.hpp"
#include "proxy/prepared_statements.hpp"
#include "proxy/router.hpp"
#include "proxy/state_tracker.hpp"
#include "runtime/byte_buffer.hpp"
#include "runtime/client_stream.hpp"
#include "runtime/fifo.hpp"
#include "runtime/stream.hpp"
#include "shard/routing.hpp"
#include "sql/read_intent.hpp"

namespace pgswarm::proxy {

class Worker;

enum class SessionState : std::uint8_t {
  kLogin,    // startup and authentication
  kIdle,     // logged in, no server attached (transaction mode between transactions)
  kWaiting,  // waiting for a server connection
  kActive,   // a server is attached
  kClosing,
};
[[nodiscard]] const char* toString(SessionState state);

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& worker, runtime::Socket socket);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  [[nodiscard]] asio::awaitable<void> run();
  // Ends the session from outside (shutdown): closes both sockets.
  void abort();
  // Worker maintenance: ends a client idle past client_idle_timeout (or
  // idle_transaction_timeout inside a transaction) with PostgreSQL's error.
  void enforceIdleTimeouts(std::chrono::steady_clock::time_point now);
  // Worker maintenance: a client that has waited at least kParkAfter with
  // nothing in flight and no server gives up its coroutines and its place
  // in asio's reactor; the worker's parking lot watches its socket and
  // starts the relay again when it speaks.
  void parkIfIdle(std::chrono::steady_clock::time_point now);
  static constexpr std::chrono::seconds kParkAfter{1};

  // Closes the server connection when it is on a node of `nodes` (bit i:
  // node i), which the server loop then handles as a lost server.
  void dropServerOn(std::uint64_t nodes);

  [[nodiscard]] SessionState state() const { return state_; }
  [[nodiscard]] bool parked() const { return parked_; }
  // Empty until the startup packet has come.
  [[nodiscard]] const std::string& user() const;
  [[nodiscard]] const std::string& database() const;
  [[nodiscard]] std::string peer() const;
  // "TLSv1.3/TLS_AES_256_GCM_SHA384" for a TLS client, else empty.
  [[nodiscard]] const std::string& tls() const { return client_.tlsDescription(); }
  // For SHOW CLIENTS / SHOW SERVERS: the server connection attached now, if any.
  [[nodiscard]] const pool::ServerConnection* server() const {
    return transit_ ? transit_->server.get() : nullptr;
  }
  [[nodiscard]] const pool::ServerPool* serverPool() const {
    return server() != nullptr ? transit_->pool : nullptr;
  }
  [[nodiscard]] std::chrono::steady_clock::time_point connectedAt() const { return connectedAt_; }
  // Transaction mode: why the client keeps its server connection, or empty.
  [[nodiscard]] std::string pinReason() const { return tracker_ ? tracker_->pinReason() : ""; }

 private:
  enum class Scan { kOk, kTerminate, kMalformed, kRetry };

  asio::awaitable<bool> startup();
  asio::awaitable<bool> negotiateTls(std::chrono::steady_clock::time_point deadline);
  asio::awaitable<void> refusePlain();
  asio::awaitable<bool> login();
  asio::awaitable<bool> attachServer(int node);
  bool attachIdleServer(int node);
  void adoptServer(pool::Lease lease, int node, int primary);
  void activateServer();
  // While the failover coordinator holds writes (or has yet to notice that
  // `failed`, the primary, refused a connection), waits for a primary.
  // True: attach to primaryNode() again; false: the failure stands.
  asio::awaitable<bool> waitOutFailover(std::optional<int> failed,
                                        std::chrono::steady_clock::time_point deadline);
  [[nodiscard]] bool routingActive() const;
  void noteParameter(std::string_view name, std::string_view value);
  [[nodiscard]] bool transactionMode() const;
  asio::awaitable<void> borrowReplica(int node);
  void returnReplica(bool reusable);
  // The node for the client's next transaction; nullopt until enough of it has arrived.
  [[nodiscard]] std::optional<int> chooseNode();
  // Where the client's next batch goes: its read intent, and the shard
  // group that owns every row it touches when it is one single-shard
  // statement (direct routing).
  // A single-partition statement on a coordinator partition, sent naming
  // that partition (sql/relation_rename.hpp): `text` replaces the statement
  // text of the batch's Query, of its one unnamed Parse (statement empty),
  // or of the named statement its Bind binds. Leaving it out is always
  // correct: it only spares the server planning the partitioned parent.
  struct LocalRename {
    std::string text;
    std::string statement;
  };
  struct BatchRoute {
    sql::ReadIntent intent = sql::ReadIntent::kPrimary;
    int shardGroup = -1;     // index into ProxyShared::shardGroups; -1: the coordinator
    bool shardRead = false;  // a replica of the shard may run it
    // Every statement only sets, resets or shows settings: it runs on the
    // primary but writes nothing a later read must wait for.
    bool settingsOnly = false;
    std::optional<LocalRename> rename;
  };
  [[nodiscard]] std::optional<BatchRoute> batchRoute(std::span<const std::byte> data);
  [[nodiscard]] BatchRoute routeStatement(std::string_view text,
                                          std::optional<std::span<const std::byte>> bind,
                                          std::string_view statement = {});
  void placeShardKey(const shard::ShardRoutes& routes, const sql::ShardKeyUse& key,
                     std::string_view text, std::optional<std::span<const std::byte>> bind,
                     BatchRoute& out);
  [[nodiscard]] bool emitLocalRename(char type, const protocol::Frame& frame,
                                     std::span<const std::byte> before);
  [[nodiscard]] const PreparedStatement& localVariant(const PreparedStatement& statement,
                                                      const std::string& text);
  [[nodiscard]] const shard::ShardRoutes* shardRoutes();
  [[nodiscard]] int routeToShard(int group, bool read);
  void noteAttachmentWrite();
  void noteShardError(std::span<const std::byte> body);
  [[nodiscard]] std::optional<sql::ReadIntent> batchIntentOf(std::span<const std::byte> data);
  bool admitOnShard(std::span<const std::byte> rest, const std::optional<BatchRoute>& routed);
  // At a batch boundary on a routed attachment: may this batch go to the
  // attached server? false holds it until the server is settled (checkRoute).
  bool admitBatch(std::span<const std::byte> rest);
  asio::awaitable<void> waitServerSettled();
  // Scans the client's input and writes what it may send to the server:
  // startClientSend(), then co_await writeRestToServer() unless the socket
  // took it all (send.now.done), then finishClientSend(), which is nullopt
  // when the server cannot be written to.
  struct ClientSend {
    Scan scan = Scan::kOk;
    std::size_t consumed = 0;  // bytes of clientIn_ sent
    asio::const_buffer out;    // what went to the server (renamed, or clientIn_'s bytes)
    runtime::WrittenNow now;
  };
  ClientSend startClientSend();
  asio::awaitable<void> writeRestToServer(ClientSend& send);
  std::optional<Scan> finishClientSend(const ClientSend& send);
  // A replica died before answering a read: the read goes elsewhere.
  [[nodiscard]] bool canRetryRead() const;
  [[nodiscard]] bool survivesServerLoss() const;
  asio::awaitable<void> reportLostStatement();
  asio::awaitable<bool> retryRead();
  asio::awaitable<void> waitRetryDone();
  asio::awaitable<void> awaitServerSignal();
  void signalServerDone();
  void forgetInFlight();
  // The node route() picks now for a read (or the primary for a write).
  [[nodiscard]] int routeNow(bool read);
  asio::awaitable<void> yieldUntilWritten();
  asio::awaitable<bool> replaySettings();
  void noteServerSettings();
  bool trackClientMessage(char type, std::span<const std::byte> rest, bool whole);
  // What scanServer does with one whole server message (a DataRow aside).
  enum class ServerMessageFate : unsigned char { kForward, kKeepBack, kMalformed };
  ServerMessageFate noteServerMessage(char type, std::span<const std::byte> body);
  [[nodiscard]] bool noteReadyForQuery(std::span<const std::byte> body);
  asio::awaitable<void> relay();
  void waitParked();
  void unpark();
  // The parking lot's wake (Worker::parkingLot).
  static void wakeParked(void* session);
  // Ends parking: the socket out of the lot and back in asio (`reopen`),
  // or closed, and no longer parked. Returns the reference the session held
  // on itself; `failed` is set when the socket could not be reopened (it is
  // closed then).
  std::shared_ptr<Session> leaveLot(bool reopen, std::error_code& failed);
  void endSession();
  asio::awaitable<void> clientLoop();
  // `inClientLoop`: the reply to a lone batch, read by clientLoop itself;
  // true when the attachment outlives that read and a spawned loop must
  // take over. `firstRead`: that read was made already and ended so.
  asio::awaitable<bool> serverLoop(bool inClientLoop,
                                   std::optional<std::error_code> firstRead = std::nullopt);
  // What every exit of a server read loop does (serverLoop's, or
  // clientLoop's read of a lone reply): no loop reads the server now, and
  // whoever waits for that (relay(), waitServerSettled) is told.
  void endServerLoop();
  // serverLoop's pass over what a read brought, in ClientSend's shape:
  // startServerPass() scans the server's input and writes what goes to the
  // client as far as the socket takes it; co_await runtime::writeRest()
  // unless pass.now.done; then finishServerPass(), which is true when the
  // server went back to its pool.
  struct ServerPass {
    Scan scan = Scan::kOk;
    std::size_t consumed = 0;  // bytes of the server's input scanned
    runtime::WrittenNow now;
  };
  ServerPass startServerPass();
  bool finishServerPass(std::size_t consumed);
  [[nodiscard]] bool replyReadableInline() const;
  [[nodiscard]] bool serverMaySpeakUnasked() const;
  asio::awaitable<void> finishServer();
  asio::awaitable<void> handleCancel(const CancelKey& key);
  asio::awaitable<void> fatal(std::string_view sqlState, std::string_view message);
  asio::awaitable<void> endIdle(std::string_view sqlState, std::string message);
  [[nodiscard]] bool waitingForClient() const;

  Scan scanClient(std::size_t& consumed);
  Scan scanServer(std::size_t& consumed);
  [[nodiscard]] int groupPrimaryOf(int node);
  [[nodiscard]] pool::ServerPool& poolOn(int node);
  void countQuery();
  void countClientMessage(char type);
  [[nodiscard]] bool hasMessageForServer() const;
  static bool namesStatement(char type);
  void noteParse(bool named);
  void emitToServer(std::span<const std::byte> bytes);
  void startRewriting(std::span<const std::byte> before);
  bool rewriteStatementMessage(const protocol::Frame& frame, std::span<const std::byte> whole,
                               std::span<const std::byte> before);
  bool rewriteParse(const protocol::Parse& parse, std::span<const std::byte> whole,
                    std::span<const std::byte> before);
  bool renameStatement(std::span<const std::byte> whole, std::string_view name,
                       std::span<const std::byte> before);
  void emitRenamed(std::span<const std::byte> whole, std::string_view name,
                   std::string_view newName);
  [[nodiscard]] const PreparedStatement* knownStatement(std::string_view name) const;
  void ensurePreparedOnServer(const PreparedStatement& statement);
  template <typename Message>
  bool encodeToServer(const Message& message);
  void forwardToClient(std::size_t offset, std::size_t length);
  void forgetUnconfirmedParses();
  bool onServerMessage(char type);
  [[nodiscard]] bool serverIdle() const;
  void releaseServer(bool reusable = true);
  [[nodiscard]] bool releasesAtReady() const;
  void startServerLoop();

  friend class Worker;  // keeps workerSlot_
  Worker& worker_;
  runtime::ClientStream client_;
  // {user, database} from the startup packet, shared like the rest
  // (ParameterSets); in transaction mode also what servers start with.
  std::shared_ptr<const pool::Parameters> identity_;
  // Shared with the worker's other clients that sent the same (ParameterSets).
  std::shared_ptr<const pool::Parameters> startupParameters_;
  std::shared_ptr<const pool::Parameters> serverStartup_;  // what its server connections start with
  // Transaction mode (and session mode with borrowed reads): the client's
  // session state (see state_tracker.hpp). A parked client drops a
  // pristine one and builds it again from its startup parameters.
  std::unique_ptr<StateTracker> tracker_;
  std::shared_ptr<const pool::ServerCredentials> credentials_;  // the user's, shared
  CancelRegistry::Registration cancel_;                         // slot empty until login succeeds
  const std::chrono::steady_clock::time_point connectedAt_ = std::chrono::steady_clock::now();
  // Since when the session waits for the client (ReadyForQuery sent).
  std::chrono::steady_clock::time_point idleSince_ = std::chrono::steady_clock::now();
  // Transaction mode: the client's named statements, made at its first.
  std::unique_ptr<ClientStatements> clientStatements_;
  // While parked, nothing else owns the session: it owns itself until it
  // leaves the lot.
  std::shared_ptr<Session> parkedSelf_;
  // The small fields together, so that no padding comes between them.
  std::uint32_t workerSlot_ = 0;  // index in the worker's list of sessions
  int parkedFd_ = -1;             // the socket while asio does not have it
  SessionState state_ = SessionState::kLogin;
  protocol::TransactionStatus txStatus_ = protocol::TransactionStatus::kIdle;
  bool closing_ = false;
  bool rebuildTracker_ = false;  // the tracker was dropped while parked: make it on wake
  bool namedStatementsSeen_ = false;
  bool relaying_ = false;           // login is over: a read of an attachment may be retried
  bool awaitingClient_ = false;     // clientLoop waits for the client's next bytes
  bool parkRequested_ = false;      // parkIfIdle cancelled that wait
  bool parked_ = false;             // no coroutine runs: the worker's parking lot has the socket
  bool parkedV6_ = false;           // the parked socket's protocol, to give it back to asio
  bool routing_ = false;            // routingActive(), fixed at login
  bool readOnlyByDefault_ = false;  // the client's default_transaction_read_only

  // Read routing (transaction mode with load balancing; see router.hpp).
  // The attachment's node is counted in Worker::routedNow while attached.
  class RoutedNode {
   public:
    RoutedNode() = default;
    RoutedNode(const RoutedNode&) = delete;
    RoutedNode& operator=(const RoutedNode&) = delete;
    ~RoutedNode() { clear(); }
    void set(Worker& worker, int node);
    void clear();
    [[nodiscard]] int node() const { return node_; }

   private:
    Worker* worker_ = nullptr;
    int node_ = -1;
  };
  WriteFence fence_;
  std::vector<WriteFence> shardFences_;  // read-your-writes per shard group
  // As the server reports them (Worker::encodingName: equal names, equal
  // pointers): text keys are hashed as sent only when the two agree.
  const std::string* clientEncoding_ = nullptr;
  const std::string* serverEncoding_ = nullptr;

  // What the relay works with between the client's bytes and a server:
  // all of it empty, zero or a cache while the client idles. A parked
  // client frees it and makes it afresh when it speaks (transit_ is null
  // only while parked). Touched only on this worker's thread.
  struct Transit {
    runtime::ByteBuffer clientIn;
    pool::ServerPool* pool = nullptr;      // of the attached (or last attached) server
    pool::ServerPool* lastPool = nullptr;  // poolOn()'s last answer, for lastPoolNode
    int lastPoolNode = -1;
    pool::Lease server;
    int pendingSyncs = 0;   // Query/Sync sent whose ReadyForQuery has not come back
    bool unsynced = false;  // extended-protocol messages sent since the last Sync
    bool serverBroken = false;
    std::size_t clientPassthrough = 0;  // bytes of a partly forwarded client message
    std::size_t serverPassthrough = 0;  // bytes of a partly forwarded server message
    std::string malformed;              // why the client's input was refused (08P01), or empty
    // Transaction mode: Parses awaiting their ParseComplete, and the rebuilt
    // bytes when a batch had to be renamed.
    int untrackedParses = 0;
    runtime::Fifo<PendingParse> pendingParses;
    std::string toServer;
    bool rewriting = false;
    // What scanServer forwards: pieces of the server's input buffer, written
    // before that buffer is touched again.
    std::vector<asio::const_buffer> toClient;
    // relay() and clientLoop wait here for serverLoop to end or settle;
    // made on first wait.
    std::unique_ptr<asio::steady_timer> serverDone;
    bool serverLoopRunning = false;
    // Read routing of the attachment.
    RoutedNode routed;
    std::optional<BatchRoute> routedBatch;  // the batch chooseNode() just routed
    std::optional<LocalRename> rename;      // of the batch admitted last, until sent
    int shardGroup = -1;            // the attachment's shard group; -1: the coordinator's nodes
    bool shardReplica = false;      // the attachment is a shard group's replica: reads only
    bool onReplica = false;         // the attachment serves reads away from the primary
    bool attachmentWrote = false;   // a batch that may write went to the primary
    bool holdForRoute = false;      // a batch waits until the replica is settled
    bool stayUntilRelease = false;  // the replica's open transaction takes everything
    bool settleWaiting = false;     // clientLoop waits in waitServerSettled
    // Retry of a read whose replica failed before any reply reached the client.
    std::string retryBytes;  // the client's bytes sent on this attachment
    bool retryArmed = false;
    bool retrying = false;
    bool writingToServer = false;
    int retries = 0;
    // Session mode: the primary parked while a read runs on a borrowed replica.
    pool::Lease parkedPrimary;
    pool::ServerPool* parkedPool = nullptr;
    int parkedNode = -1;
    int borrowNode = -1;  // admitBatch chose a replica for the next read
    bool parking = false;
    bool noBorrow = false;  // the next batch runs on the primary (a borrow just failed)
  };
  std::unique_ptr<Transit> transit_ = std::make_unique<Transit>();
};

}  // namespace pgswarm::proxy
