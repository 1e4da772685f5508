#include "source/zookeeper/batch_writer.h"

namespace flinkbr::source::zookeeper {

namespace {

constexpr size_t kBatchBytes = 512 * 1024;  // serialized bytes of one multi (< 1 MiB)
constexpr size_t kBatchOps = 2000;
constexpr size_t kBatchesInFlight = 8;
constexpr size_t kAclsInFlight = 500;

}  // namespace

CAcl::CAcl(const std::vector<Acl>& in) : src(in) {
  for (auto& a : src) {
    ACL c{};
    c.perms = a.perms;
    c.id.scheme = a.scheme.data();
    c.id.id = a.id.data();
    acls.push_back(c);
  }
  vec.count = static_cast<int32_t>(acls.size());
  vec.data = acls.data();
}

size_t Op::bytes() const {
  size_t n = 32 + path.size() + (data ? data->size() : 0);
  if (acl)
    for (const auto& a : acl->src) n += 16 + a.scheme.size() + a.id.size();
  return n;
}

struct Writer::Batch {
  Writer* owner = nullptr;
  std::vector<Op> ops;
  size_t bytes = 0;
  std::vector<zoo_op_t> cops;
  std::vector<zoo_op_result_t> results;
  std::vector<char> pathbuf;
  int rc = ZOK;
  bool done = false;
};

Writer::Writer(Session& s) : s_(s) {}

Writer::~Writer() {
  (void)drain();
}

Status Writer::add(Op op) {
  if (op.single()) {
    TRY(flush());
    auto b = std::make_unique<Batch>();
    b->ops.push_back(std::move(op));
    return submit(std::move(b));
  }
  if (pending_ && (pending_->ops.size() >= kBatchOps || pending_->bytes + op.bytes() > kBatchBytes))
    TRY(flush());
  if (!pending_) pending_ = std::make_unique<Batch>();
  pending_->bytes += op.bytes();
  pending_->ops.push_back(std::move(op));
  return ok();
}

Status Writer::flush() {
  if (!pending_) return ok();
  return submit(std::move(pending_));
}

Status Writer::finish() {
  TRY(flush());
  return drain();
}

Status Writer::submit(std::unique_ptr<Batch> b) {
  b->owner = this;
  Batch* raw = b.get();
  {
    std::unique_lock lk(m_);
    size_t limit = raw->ops[0].single() ? kAclsInFlight : kBatchesInFlight;
    cv_.wait(lk, [&] { return inflight_ < limit; });
    ++inflight_;
  }
  batches_.push_back(std::move(b));
  int rc;
  if (raw->ops[0].kind == Op::kSetAcl) {
    // The C API takes a non-const ACL_vector it only reads.
    rc = zoo_aset_acl(s_.zh(), raw->ops[0].path.c_str(), -1,
                      const_cast<ACL_vector*>(&raw->ops[0].acl->vec), &on_done, raw);
  } else if (raw->ops[0].kind == Op::kDeleteIfExists) {
    rc = zoo_adelete(s_.zh(), raw->ops[0].path.c_str(), -1, &on_done, raw);
  } else {
    raw->cops.resize(raw->ops.size());
    raw->results.resize(raw->ops.size());
    raw->pathbuf.resize(raw->ops.size() * 2);
    for (size_t i = 0; i < raw->ops.size(); ++i) {
      Op& op = raw->ops[i];
      const char* data = op.data ? op.data->data() : nullptr;
      int len = op.data ? static_cast<int>(op.data->size()) : -1;
      switch (op.kind) {
        case Op::kCreate:
          zoo_create_op_init(&raw->cops[i], op.path.c_str(), data, len, &op.acl->vec,
                             ZOO_PERSISTENT, &raw->pathbuf[2 * i], 2);
          break;
        case Op::kDelete:
          zoo_delete_op_init(&raw->cops[i], op.path.c_str(), -1);
          break;
        case Op::kSetData:
          zoo_set_op_init(&raw->cops[i], op.path.c_str(), data, len, -1, nullptr);
          break;
        case Op::kSetAcl:
        case Op::kDeleteIfExists:
          break;
      }
    }
    rc = zoo_amulti(s_.zh(), static_cast<int>(raw->cops.size()), raw->cops.data(),
                    raw->results.data(), &on_done, raw);
  }
  if (rc != ZOK) on_done(rc, raw);
  // Forget completed batches at the front.
  std::lock_guard lk(m_);
  while (!batches_.empty() && batches_.front()->done) {
    if (batches_.front()->rc != ZOK && !first_error_) first_error_ = describe(*batches_.front());
    batches_.pop_front();
  }
  if (first_error_) return std::unexpected(*first_error_);
  return ok();
}

Status Writer::drain() {
  std::unique_lock lk(m_);
  cv_.wait(lk, [&] { return inflight_ == 0; });
  for (auto& b : batches_)
    if (b->rc != ZOK && !first_error_) first_error_ = describe(*b);
  batches_.clear();
  if (first_error_) return std::unexpected(*first_error_);
  return ok();
}

Error Writer::describe(const Batch& b) const {
  static constexpr const char* kVerb[] = {"creating", "deleting", "setting the data of",
                                          "setting the ACL of", "deleting"};
  if (!b.ops[0].single() && b.rc != ZCONNECTIONLOSS && b.rc != ZSESSIONEXPIRED)
    for (size_t i = 0; i < b.results.size(); ++i) {
      int err = b.results[i].err;
      if (err != ZOK && err != ZRUNTIMEINCONSISTENCY)
        return s_.error(err, std::string(kVerb[b.ops[i].kind]) + " " + b.ops[i].path).error();
    }
  return s_
      .error(b.rc, std::string(kVerb[b.ops[0].kind]) + " " + b.ops[0].path +
                       (b.ops.size() > 1 ? " (and " + std::to_string(b.ops.size() - 1) +
                                               " more znodes in one batch)"
                                         : ""))
      .error();
}

void Writer::on_done(int rc, const void* d) {
  auto* b = static_cast<Batch*>(const_cast<void*>(d));
  Writer* w = b->owner;
  std::lock_guard lk(w->m_);
  // An ephemeral znode whose session expired in the meantime is gone, as wanted.
  if (rc == ZNONODE && b->ops[0].kind == Op::kDeleteIfExists) rc = ZOK;
  b->rc = rc;
  b->done = true;
  --w->inflight_;
  w->cv_.notify_all();
}

}  // namespace flinkbr::source::zookeeper
