#include "source/zookeeper/tree_reader.h"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>

namespace flinkbr::source::zookeeper {

namespace {

constexpr size_t kRequestsInFlight = 2000;  // read requests outstanding at once
constexpr size_t kReadAhead = 2000;         // znodes read but not yet handed on, at most
constexpr size_t kListAhead = 4096;         // paths listed but not yet requested, about
constexpr size_t kReadSessions = 2;         // sessions a tree is read over
constexpr size_t kWakeBatch = 64;           // answers handed to the reading thread at once

std::string child_of(const std::string& rel, const std::string& name) {
  return rel == "/" ? "/" + name : rel + "/" + name;
}

}  // namespace

bool looks_sequential(const std::string& rel, int32_t parent_cversion) {
  std::string name = rel.substr(rel.rfind('/') + 1);
  if (name.size() < 10) return false;
  std::string digits = name.substr(name.size() - 10);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  long long v = std::stoll(digits);
  return v < static_cast<long long>(parent_cversion);
}
bool is_session_owner(int64_t owner) {
  auto u = static_cast<uint64_t>(owner);
  return owner != 0 && u != 0x8000000000000000ull && (u >> 56) != 0xff;
}

struct TreeReader::Req {
  TreeReader* owner = nullptr;
  Pipeline* pl = nullptr;  // the pipeline of its requests
  std::string rel;
  std::string path;
  int rc = ZOK;     // first failure of its requests (ZNONODE wins: vanished)
  int pending = 0;  // requests not answered yet
  bool listing = false;
  bool complete = false;
  bool vanished = false;
  Stat stat{};
  Stat child_stat{};
  std::vector<std::string> children;
  Znode z;
};

Status TreeReader::open_sessions(const Params& p) {
  while (pipelines_.size() < kReadSessions) pipelines_.push_back(TRY(Pipeline::open(p, s_)));
  return ok();
}

Status TreeReader::read(const ZnodeSink& visit) {
  if (pipelines_.empty()) return failed_precondition("the tree reader was not opened");
  std::map<std::string, bool> unissued{{"/", false}};  // known, not requested; -> sequential
  std::map<std::string, std::unique_ptr<Req>> issued;  // requested, not visited yet
  // Read znodes with children, not listed yet. Listing every inner znode read ahead would put
  // all their children's paths in `unissued` (a whole level of checkpoints: memory growing
  // with the tree), so a listing waits until the paths listed ahead fall under kListAhead,
  // except the smallest znode's, which the visitor waits for.
  std::map<std::string, Req*> unlisted;
  size_t listing = 0;  // children counted by the Stats of the listings in flight
  std::optional<Error> failure;
  std::vector<Req*> got;
  for (;;) {
    // List: the smallest first, bounded by the paths listed ahead.
    while (!failure && !unlisted.empty()) {
      Req* r = unlisted.begin()->second;
      bool front = issued.begin()->second.get() == r;
      size_t n = static_cast<size_t>(r->stat.numChildren);
      if (!front && unissued.size() + listing + n > kListAhead) break;
      unlisted.erase(unlisted.begin());
      listing += n;
      issue_children(r);
    }
    // Issue: the smallest known paths first, bounded by requests in flight and read-ahead.
    while (!failure && !unissued.empty()) {
      auto u = unissued.begin();
      bool front = issued.empty() || u->first < issued.begin()->first;
      if (!front && (issued.size() >= kReadAhead || inflight() >= kRequestsInFlight)) break;
      auto r = std::make_unique<Req>();
      r->owner = this;
      r->rel = u->first;
      r->path = abs(r->rel);
      r->z.sequential = u->second;
      unissued.erase(u);
      Req* raw = r.get();
      issued.emplace(raw->rel, std::move(r));
      issue_get(raw);
    }
    // Visit, in order, what is complete and cannot be preceded by a path not known yet.
    while (!failure && !issued.empty()) {
      auto it = issued.begin();
      Req& r = *it->second;
      if (!r.complete || (!unissued.empty() && unissued.begin()->first < it->first)) break;
      if (!r.vanished) {
        if (auto st = visit(r.rel, r.z); !st) failure = st.error();
      }
      issued.erase(it);
    }
    if (failure && inflight() == 0) break;
    if (!failure && issued.empty() && unissued.empty()) break;
    // Wait for answers. With none to come, go round again: visiting may have made a parked
    // znode the smallest, which is then listed (nothing in flight would wait forever).
    {
      std::unique_lock lk(m_);
      if (done_.empty() && inflight_ == 0) continue;
      cv_.wait(lk, [&] { return !done_.empty(); });
      got.swap(done_);
    }
    for (Req* r : got) {
      if (r->listing) listing -= static_cast<size_t>(r->stat.numChildren);
      if (failure) continue;
      if (r->rc == ZNONODE) {
        if (r->rel == "/")
          failure = Error{Errc::kNotFound, "znode " + root_ + " does not exist on " + s_.connect()};
        r->complete = r->vanished = true;
        continue;
      }
      if (r->rc != ZOK) {
        failure = s_.error(r->rc, "reading " + r->path).error();
        continue;
      }
      if (!r->listing && r->stat.numChildren > 0 && !(skip_ && skip_(r->rel))) {
        unlisted.emplace(r->rel, r);
        continue;
      }
      if (r->listing) {
        int32_t cversion = r->child_stat.cversion;
        for (auto& name : r->children) {
          std::string child = child_of(r->rel, name);
          bool seq = looks_sequential(child, cversion);
          unissued.emplace(std::move(child), seq);
        }
        r->children = {};
      }
      r->complete = true;
    }
    got.clear();
    if (!failure && ctx_ && ctx_->is_cancelled()) failure = Error{Errc::kCancelled, "cancelled"};
  }
  if (failure) return std::unexpected(std::move(*failure));
  return ok();
}

Status TreeReader::read_paths(const PathSource& next, const StatSink& visit) {
  if (pipelines_.empty()) return failed_precondition("the tree reader was not opened");
  // Issued in the source's order and visited in it: the front is always the oldest request.
  std::deque<std::unique_ptr<Req>> issued;
  bool more = true;
  std::optional<Error> failure;
  std::vector<Req*> got;
  const Stat none{};
  for (;;) {
    while (!failure && more && issued.size() < kReadAhead && inflight() < kRequestsInFlight) {
      auto rel = next();
      if (!rel) {
        failure = std::move(rel).error();
      } else if (!*rel) {
        more = false;
      } else {
        auto r = std::make_unique<Req>();
        r->owner = this;
        r->rel = std::move(**rel);
        r->path = abs(r->rel);
        issued.push_back(std::move(r));
        issue_get(issued.back().get());
      }
    }
    while (!failure && !issued.empty() && issued.front()->complete) {
      Req& r = *issued.front();
      Status st = ok();
      if (r.rc == ZNONODE)
        st = visit(r.rel, nullptr, none);
      else if (r.rc != ZOK)
        st = s_.error(r.rc, "reading " + r.path);
      else
        st = visit(r.rel, &r.z, r.stat);
      if (!st) failure = std::move(st).error();
      issued.pop_front();
    }
    if (failure && inflight() == 0) break;
    if (!failure && issued.empty() && !more) break;
    {
      std::unique_lock lk(m_);
      if (done_.empty() && inflight_ == 0) continue;
      cv_.wait(lk, [&] { return !done_.empty(); });
      got.swap(done_);
    }
    for (Req* r : got) r->complete = true;
    got.clear();
    if (!failure && ctx_ && ctx_->is_cancelled()) failure = Error{Errc::kCancelled, "cancelled"};
  }
  if (failure) return std::unexpected(std::move(*failure));
  return ok();
}

void TreeReader::answered(Req* r, int rc) {
  std::lock_guard lk(m_);
  size_t left = --inflight_;
  if (rc != ZOK && (r->rc == ZOK || rc == ZNONODE)) r->rc = rc;
  if (--r->pending == 0) {
    done_.push_back(r);
    // Wake the reader once per batch of answers, not per znode: every wake-up is a context
    // switch on cores the server shares. With few answers still to come, wake at once.
    if (done_.size() >= kWakeBatch || left < 2 * kWakeBatch) cv_.notify_one();
  }
}

void TreeReader::issue_get(Req* r) {
  {
    std::lock_guard lk(m_);
    r->pending = 2;
    inflight_ += 2;
  }
  r->pl = pipelines_[turn_++ % pipelines_.size()].get();
  int rc = r->pl->aget(r->path, &on_data, r);
  if (rc != ZOK) answered(r, rc);
  rc = r->pl->aget_acl(r->path, &on_acl, r);
  if (rc != ZOK) answered(r, rc);
}

void TreeReader::issue_children(Req* r) {
  r->listing = true;
  {
    std::lock_guard lk(m_);
    r->pending = 1;
    ++inflight_;
  }
  int rc = r->pl->aget_children2(r->path, &on_children, r);
  if (rc != ZOK) answered(r, rc);
}

void TreeReader::on_data(int rc, const char* value, int len, const Stat* st, const void* d) {
  auto* r = static_cast<Req*>(const_cast<void*>(d));
  if (rc == ZOK) {
    if (value && len >= 0) r->z.data.emplace(value, static_cast<size_t>(len));
    if (st) {
      r->stat = *st;
      r->z.ephemeral = is_session_owner(st->ephemeralOwner);
      if (r->z.ephemeral) r->z.owner = st->ephemeralOwner;
    }
  }
  r->owner->answered(r, rc);
}
void TreeReader::on_acl(int rc, ACL_vector* acl, Stat*, const void* d) {
  auto* r = static_cast<Req*>(const_cast<void*>(d));
  if (rc == ZOK && acl)
    for (int i = 0; i < acl->count; ++i)
      r->z.acl.push_back({acl->data[i].perms, acl->data[i].id.scheme ? acl->data[i].id.scheme : "",
                          acl->data[i].id.id ? acl->data[i].id.id : ""});
  r->owner->answered(r, rc);
}
void TreeReader::on_children(int rc, const String_vector* sv, const Stat* st, const void* d) {
  auto* r = static_cast<Req*>(const_cast<void*>(d));
  if (rc == ZOK) {
    if (sv) {
      r->children.reserve(static_cast<size_t>(sv->count));
      for (int i = 0; i < sv->count; ++i) r->children.emplace_back(sv->data[i]);
    }
    if (st) r->child_stat = *st;
  }
  r->owner->answered(r, rc);
}

}  // namespace flinkbr::source::zookeeper
