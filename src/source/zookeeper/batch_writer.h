// Writing to ZooKeeper, pipelined: creates, deletes and set-data ops grouped into zoo_amulti
// batches of at most 512 KiB serialized (well under jute.maxbuffer, 1 MiB, past which the server
// drops the connection) and 2,000 ops, 8 batches in flight; set-ACL ops (which a multi cannot
// carry) and deletes that tolerate a missing znode go one by one, 500 in flight. A session
// processes requests in order, so a batch that creates children is applied after the batch that
// created their parent, and ops are applied in the order they were added.
//
// A batch is atomic in ZooKeeper; the writer as a whole is not: after a failure the batches
// before it are applied. Errors name the op's znode and the server. One thread adds; the C
// client's completion thread finishes batches.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "source/zookeeper/codec.h"
#include "source/zookeeper/session.h"

namespace flinkbr::source::zookeeper {

// An ACL in the C client's layout, built once per distinct ACL and shared by its ops.
struct CAcl {
  explicit CAcl(const std::vector<Acl>& in);
  CAcl(const CAcl&) = delete;
  CAcl& operator=(const CAcl&) = delete;
  std::vector<Acl> src;
  std::vector<ACL> acls;
  ACL_vector vec{};
};

struct Op {
  // kDeleteIfExists: a delete that a missing znode does not fail, sent on its own (a multi fails
  // as a whole): for ephemeral znodes, which vanish when their session expires.
  enum Kind { kCreate, kDelete, kSetData, kSetAcl, kDeleteIfExists } kind;
  std::string path;  // absolute
  std::optional<std::string> data;
  std::shared_ptr<const CAcl> acl;  // create and set-ACL; shared by the ops of one ACL

  // The op's serialized size, about (an upper bound).
  size_t bytes() const;
  // Whether the op goes on its own rather than in a multi.
  bool single() const { return kind == kSetAcl || kind == kDeleteIfExists; }
};

class Writer {
 public:
  // Writes over `s`, which must outlive the writer.
  explicit Writer(Session& s);
  // Waits for the batches in flight (their completions point into this object).
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Queues an op; multi-able ops are grouped into batches, set-ACL and delete-if-exists ops go
  // one by one. Returns
  // the first failure of a batch already answered, if any.
  [[nodiscard]] Status add(Op op);
  // Sends the batch being filled.
  [[nodiscard]] Status flush();
  // Flushes and waits for everything; the first failure in submission order.
  [[nodiscard]] Status finish();

 private:
  struct Batch;

  Status submit(std::unique_ptr<Batch> b);
  Status drain();
  Error describe(const Batch& b) const;
  static void on_done(int rc, const void* d);

  Session& s_;
  std::unique_ptr<Batch> pending_;
  std::deque<std::unique_ptr<Batch>> batches_;
  std::mutex m_;
  std::condition_variable cv_;
  size_t inflight_ = 0;
  std::optional<Error> first_error_;
};

}  // namespace flinkbr::source::zookeeper
