// Pipeline: a connection of its own to one ZooKeeper server, for the pipelined reads of a tree
// (tree_reader.h, flink_capture.h): getData, getACL and getChildren2 with the C client's
// completion types, so that code issuing them reads like code calling zoo_aget.
//
// Why not the C client's own asynchronous calls: measured with strace on this machine, the C
// client makes about 11 system calls per read request: two send() (the length, then the body),
// two recv() and a poll() per answer, a write() to its wake-up pipe per request and four futex
// calls handing each request and answer between its threads. On a 2-core machine that shares
// its cores with the server, that is most of what a pipelined read costs the client
// (docs/benchmarks.md, "The ZooKeeper backup's pipelines"). A Pipeline writes every request
// queued since its last write in one send(), reads answers 256 KiB at a time, and wakes its I/O
// thread at most once per round through an eventfd.
//
// And the server's side: ZooKeeper passes every request through its chain of request processors
// (throttler, prep, sync, final: a queue and a thread each), which costs it far more than the
// answer. Where the server has multiRead (ZooKeeper 3.6 and later), a Pipeline gathers its
// getData and getChildren2 requests into multiReads of up to kMultiOps operations (measured: the
// getData of 100,000 znodes in 0.3 s instead of about 4 s). A multiRead takes only getData and
// getChildren (no Stat), so a getChildren2 goes as a getChildren followed by a getData of the
// same znode, and getACL, which it refuses, goes one by one. A gathered batch goes out when it is
// full, or when the server has few requests of this pipeline left, so that it never waits for one.
// Whether the server has multiRead is asked once at open: a multiRead of the root followed by a
// ping. ZooKeeper 3.6 and later answer it; 3.5 answers UNIMPLEMENTED and closes the session (the
// pipeline then opens another one without multiRead); 3.4 drops it silently, and the ping's answer
// comes first.
//
// What it speaks is ZooKeeper's wire protocol (wire.h): a session of its own (connect
// handshake, digest authentication when the source has credentials, pings every third of the
// negotiated timeout, closeSession at the end), opened on the server a Session is connected to,
// with the chroot of the source's connect string. Everything else a source does (writes,
// watches, sync, one-off reads) stays with the C client.
//
// Completions are called on the pipeline's I/O thread, in the order the requests were issued
// (the server answers a session in order). A failed connection (closed, an answer that does not
// parse, no answer to its requests for two thirds of the session timeout, the negotiated one but
// at most the one asked for, not counting the time the completions take) completes every
// request in flight with ZCONNECTIONLOSS, ZMARSHALLINGERROR or ZOPERATIONTIMEOUT, and refuses
// the next ones; it is not reopened (the reader fails, the task is retried). Destroying the
// pipeline completes what is still in flight with ZCLOSING. A completion must not destroy its
// pipeline (the destructor joins the I/O thread), and while one blocks no ping goes out: one
// that blocks for the session timeout loses the session.
#pragma once

#ifndef THREADED
#define THREADED
#endif
#include <zookeeper/zookeeper.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/fd.h"
#include "common/result.h"
#include "source/zookeeper/session.h"
#include "source/zookeeper/wire.h"

namespace flinkbr::source::zookeeper {

class Pipeline {
 public:
  // Opens a session on the server `s` is connected to, as its socket says (p.connect names the
  // chroot and, with p.credentials_file, the credentials). kUnavailable (retryable) when `s` is
  // not connected for a second (between servers), or the server does not answer within the
  // session timeout; kPermissionDenied when it refuses the credentials.
  [[nodiscard]] static Result<std::unique_ptr<Pipeline>> open(const Params& p, const Session& s);
  // The same on `server` ("host:port", "[v6]:port"); the tests' fake servers.
  [[nodiscard]] static Result<std::unique_ptr<Pipeline>> open_at(const Params& p,
                                                                 const std::string& server);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // As zoo_aget, zoo_aget_acl and zoo_aget_children2: ZOK when the request is queued, and then
  // `done` is called exactly once; otherwise the pipeline's failure, and `done` is not called.
  // Thread-safe; may be called from a completion.
  int aget(const std::string& path, data_completion_t done, const void* data);
  int aget_acl(const std::string& path, acl_completion_t done, const void* data);
  int aget_children2(const std::string& path, strings_stat_completion_t done, const void* data);

  // "host:port" of the server.
  const std::string& server() const { return server_; }

  // Whether the server took multiRead at open (for the tests).
  bool multi_read() const { return multi_read_; }

  // Operations gathered into one multiRead, at most (a getData each, a listing two).
  static constexpr size_t kMultiOps = 16;

 private:
  struct Pending {
    int32_t xid;
    wire::Op op;
    void (*done)();  // the completion, cast back by op
    const void* data;
    std::vector<Pending> subs;  // a multiRead's getData and getChildren2 requests
  };

  Pipeline() = default;
  // Connects, shakes hands and authenticates; with `probe`, asks whether the server has
  // multiRead, and returns null when that closed the session (ZooKeeper 3.5).
  [[nodiscard]] static Result<std::unique_ptr<Pipeline>> connect(const Params& p,
                                                                 const std::string& server,
                                                                 bool probe);
  int issue(wire::Op op, const std::string& path, void (*done)(), const void* data);
  // Frames the gathered requests as one multiRead into out_. Under m_.
  void close_batch();
  int32_t next_xid();  // under m_
  void run();
  // Completes `p` with the answer's error code and, when that is ZOK, its body; false when the
  // body does not parse (the request is then completed with ZMARSHALLINGERROR).
  bool deliver(const Pending& p, int err, std::string_view body);
  static void complete_with(const Pending& p, int rc);
  // Marks the pipeline failed with `rc` (the first failure stays) and completes what is in
  // flight with it.
  void fail(int rc);

  Fd fd_;
  Fd wake_;  // eventfd: new requests for the I/O thread
  std::string server_;
  std::string chroot_;  // "" or "/a/b"
  int timeout_ms_ = 0;  // negotiated
  bool multi_read_ = false;

  std::mutex m_;
  std::string out_;              // framed requests not handed to the I/O thread yet
  std::deque<Pending> pending_;  // issued and not answered, in order
  std::string batch_;     // gathered getData and getChildren operations (wire::append_multi_op)
  size_t batch_ops_ = 0;  // in batch_
  std::vector<Pending> batch_subs_;
  int32_t next_xid_ = 1;
  int failed_ = ZOK;
  bool armed_ = false;  // the I/O thread sleeps, or is about to: new requests must wake it
  bool stop_ = false;

  // Reused by the I/O thread for the answers it decodes.
  wire::AclReply acl_;
  wire::ChildrenReply children_;
  std::vector<wire::Op> multi_ops_;
  std::vector<wire::MultiResult> multi_;
  std::thread io_;
};

}  // namespace flinkbr::source::zookeeper
