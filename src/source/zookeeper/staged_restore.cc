#include "source/zookeeper/staged_restore.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "source/flink/layout.h"
#include "source/zookeeper/batch_writer.h"
#include "source/zookeeper/codec.h"
#include "source/zookeeper/pointer_rewrite.h"
#include "source/zookeeper/staged_index.h"
#include "source/zookeeper/tree_reader.h"

namespace flinkbr::source::zookeeper {

namespace {

// The staged payload stays in its staging file and its index in two more (StagedIndex); what a
// commit finds per znode goes to spool files too. Memory holds the distinct ACLs and bounded
// buffers, whatever the size of the tree. commit() reads the payload again, in order, for the
// data it has to write.
class ZkStagedRestore final : public StagedRestore {
 public:
  ZkStagedRestore(Params p, std::string name, const TaskContext& ctx)
      : p_(std::move(p)),
        log_(ctx.log),
        prefix_("zookeeper source '" + name + "': "),
        rewrites_(ctx.rewrites) {
    std::string safe;
    for (char c : name) safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
    base_ = ctx.staging_dir + "/zookeeper-" + safe + "-" + ctx.id;
    raw_file_ = base_ + ".raw.jsonl";
    file_ = base_ + ".jsonl";
    index_ = std::make_unique<StagedIndex>(base_);
  }
  ~ZkStagedRestore() override {
    ::unlink(raw_file_.c_str());
    ::unlink(file_.c_str());
  }

  Status open() {
    out_.open(raw_file_, std::ios::binary | std::ios::trunc);
    if (!out_) return errno_error("creating the staging file " + raw_file_, errno);
    return index_->open();
  }

  Status add(const archive::Entry& entry, io::Reader& data) override {
    if (finished_) return failed_precondition("add() after finish_staging()");
    std::string_view rel = entry.relative_path();
    if (entry.type == archive::EntryType::kDirectory && (rel.empty() || rel == "znodes"))
      return ok();
    std::string expected = part_name(parts_ + 1);
    if (entry.type != archive::EntryType::kFile || rel != expected)
      return corruption("zookeeper payload: unexpected entry '" + entry.path + "' (expected " +
                        expected + ")");
    if (entry.size > kPartLimit + 1024 * 1024)
      return corruption("zookeeper payload: entry '" + entry.path + "' is too large");
    std::string content = TRY(io::read_all(data, entry.size + 1));
    if (content.size() != entry.size)
      return corruption("zookeeper payload: entry '" + entry.path + "' is truncated");
    if (!content.empty() && content.back() != '\n')
      return corruption("zookeeper payload: entry '" + entry.path + "' does not end a line");
    // Restoring into another cluster: Flink's pointers follow their files (pointer_rewrite.h).
    if (rewrites_ && !rewrites_->empty())
      content = TRY_CTX(rewrite_pointers(content, *rewrites_), "zookeeper payload " + entry.path);
    out_.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out_) return io_error("writing the staging file " + raw_file_);
    ++parts_;
    return ok();
  }

  // Validates the staged parts (root first, byte-wise order, every parent present) and writes
  // them again as the staging file that commit() reads, with the index beside it. Flink's record
  // nodes of 1.15 and later that the backup holds without their persistent `locks` child get one
  // (empty, the record's ACL): Flink skips a record without children as marked for deletion. A
  // payload of parts without a line records a root that did not exist when it was taken.
  Status finish_staging() override {
    out_.close();
    if (!out_) return io_error("writing the staging file " + raw_file_);
    if (parts_ == 0) return corruption("zookeeper payload: no parts");
    bool legacy = TRY(legacy_layout());
    std::ifstream in(raw_file_, std::ios::binary);
    if (!in) return errno_error("reading the staging file " + raw_file_, errno);
    std::ofstream out(file_, std::ios::binary | std::ios::trunc);
    if (!out) return errno_error("creating the staging file " + file_, errno);
    // Locks children to add, by path, with their record's ACL; written in order as soon as the
    // payload passes them, dropped when it holds them. A record's children follow it closely in
    // byte-wise order, so few are pending at once.
    std::map<std::string, std::vector<Acl>> pending;
    size_t added = 0;
    std::string line, prev, synth;
    auto stage = [&](const std::string& rel, Znode& z, std::string_view text) -> Status {
      out.write(text.data(), static_cast<std::streamsize>(text.size()));
      out.put('\n');
      if (!out) return io_error("writing the staging file " + file_);
      return index_->add(make_meta(rel, z, acls_, digester_));
    };
    auto flush_pending_before = [&](const std::string* rel) -> Status {
      while (!pending.empty() && (!rel || pending.begin()->first < *rel)) {
        auto node = pending.extract(pending.begin());
        Znode z{std::string(), std::move(node.mapped()), false, false, 0};
        synth.clear();
        TRY(append_line(synth, node.key(), z));
        synth.pop_back();  // the newline; stage() adds one
        TRY(stage(node.key(), z, synth));
        ++added;
      }
      return ok();
    };
    size_t lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      auto [rel, z] = TRY(parse_line(line, lineno));
      if (lineno == 1 && rel != "/")
        return corruption("zookeeper payload: the first znode must be the root \"/\"");
      if (lineno > 1 && !(prev < rel))
        return corruption("zookeeper payload: znode " + rel + " is out of order or repeated");
      TRY(flush_pending_before(&rel));
      pending.erase(rel);
      if (rel != "/" && !TRY(has_staged_parent(rel, prev)))
        return corruption("zookeeper payload: znode " + rel + " has no parent in the backup");
      flink::NodeInfo info = flink::classify(rel);
      if (info.wants_locks_child && !(legacy && info.kind == flink::NodeKind::kJobGraph))
        pending.emplace(rel + "/locks", z.acl);
      TRY(stage(rel, z, line));
      prev = std::move(rel);
    }
    TRY(flush_pending_before(nullptr));
    out.close();
    if (!out) return io_error("writing the staging file " + file_);
    in.close();
    ::unlink(raw_file_.c_str());
    absent_ = index_->size() == 0;
    if (log_ && added > 0)
      log_(prefix_ + "the backup holds " + std::to_string(added) +
           " Flink job graph, execution plan or checkpoint znodes without their persistent "
           "'locks' child, which Flink needs to recover them: the restore creates it");
    if (log_ && absent_)
      log_(prefix_ + "the backup records that znode " + p_.root +
           " did not exist: the restore removes it");
    finished_ = true;
    return ok();
  }

  Result<SourceDiff> diff() override {
    if (!finished_) return failed_precondition("diff() before finish_staging()");
    auto session = TRY(Session::open(p_));
    SourceDiff d;
    TRY(walk_live(
        *session,
        [&](const Meta& l, const Meta* st) -> Status {
          if (!stale_lock(l, st) && TRY(kept_ephemeral(l, st))) return ok();
          if (!st)
            d.removed.add(abs(l.rel));
          else if (l.ephemeral || !l.same_content(*st))
            d.changed.add(abs(l.rel));
          return ok();
        },
        [&](const Meta& st) -> Status {
          d.added.add(abs(st.rel));
          return ok();
        }));
    return d;
  }

  Status commit() override {
    if (!finished_) return failed_precondition("commit() before finish_staging()");
    auto t0 = std::chrono::steady_clock::now();
    auto session = TRY(Session::open(p_));
    CommitPlan plan(base_);
    TRY(plan.open());
    bool root_exists = TRY(compare_with_live(*session, plan));
    if (!root_exists && !absent_) TRY(create_ancestors(*session));
    CommitCounts n;
    {
      Writer w(*session);
      TRY(delete_extra(w, plan, n));
      TRY(write_staged(w, session->authenticated(), plan, n));
      TRY(w.flush());
      TRY(set_final_acls(w, plan, n));
      TRY(w.finish());
    }
    committed_ = true;
    if (log_) {
      log_(prefix_ + "deleted " + std::to_string(n.deleted) + ", created " +
           std::to_string(n.created) + ", set the data of " + std::to_string(n.set_data) +
           " and the ACL of " + std::to_string(n.set_acl) + " znodes in " + seconds_since(t0));
      if (plan.stale_locks > 0)
        log_(prefix_ + "deleted " + std::to_string(plan.stale_locks) +
             " ephemeral Flink lock znodes left by JobManager sessions that are not closed yet: "
             "a restored cluster starts unlocked");
      if (plan.kept_ephemeral > 0)
        log_(prefix_ + "left " + std::to_string(plan.kept_ephemeral) +
             " ephemeral znodes of open sessions alone (leader latches, connection info): they "
             "vanish when their sessions end or expire");
    }
    return ok();
  }

  // The result is proven from the staged index alone (prove_result()); only when that proof
  // fails is the whole live tree read and compared, which names the first difference in path
  // order. A failed verification is rare (the safety copy goes back after it), so its cost does
  // not matter, and the messages stay those of the full comparison.
  Status verify() override {
    if (!committed_) return failed_precondition("verify() before commit()");
    auto session = TRY(Session::open(p_));
    // This new session may be on a follower that has not applied the commit's last writes.
    TRY(session->sync(p_.root.empty() ? "/" : p_.root));
    if (!absent_ && TRY(prove_result(*session))) return ok();
    if (log_ && !absent_)
      log_(prefix_ +
           "the live tree is not the staged one: reading it whole to name the first "
           "difference");
    return compare_whole_tree(*session);
  }

 private:
  // The whole live tree read and compared with the staged one: kCorruption naming the first
  // difference in byte-wise path order.
  Status compare_whole_tree(Session& session) {
    return walk_live(
        session,
        [&](const Meta& l, const Meta* st) -> Status {
          if (TRY(kept_ephemeral(l, st))) return ok();
          if (!st) return corruption(abs(l.rel) + ": present but not in the backup");
          if (l.ephemeral)
            return corruption(abs(l.rel) + ": ephemeral, but persistent in the backup");
          if (l.null_data != st->null_data || l.digest != st->digest)
            return corruption(abs(l.rel) + ": data differs from the backup");
          if (l.acl != st->acl)
            return corruption(abs(l.rel) + ": ACL " + describe_acl(acls_.get(l.acl)) +
                              ", expected " + describe_acl(acls_.get(st->acl)));
          return ok();
        },
        [&](const Meta& st) -> Status {
          return corruption(abs(st.rel) + ": missing after the restore");
        });
  }

  // A staged znode whose children the proof has not all seen yet: its live Stat.numChildren
  // and how many of its staged children were read back equal so far.
  struct OpenParent {
    std::string rel;
    int32_t live_children = 0;
    int32_t staged_children = 0;
  };

  // Whether the live tree is the staged one, read without listing: every staged path is read
  // (data, ACL, Stat) in index order, pipelined, and must be persistent with the staged data and
  // ACL; and every staged znode's Stat.numChildren must equal the number of its staged children,
  // all read back. The live children then include the staged ones and are as many, so none was
  // added: together with every staged znode present and equal, that is what the full comparison
  // proves, at the cost of the reads alone. Where a znode has more children, they are listed
  // once: ephemeral znodes of open sessions the restore left alone (kept_ephemeral()) are no
  // difference. false at the first difference, and for a staged znode missing.
  Result<bool> prove_result(Session& s) {
    TreeReader reader(s, p_.root, nullptr);
    TRY(reader.open_sessions(p_));
    StagedIndex::Cursor cursor(*index_);
    std::deque<Meta> reading;  // the staged znodes issued and not yet visited, in order
    // The staged znodes whose children may still follow in index order: each one's path is a
    // prefix of the last path visited, shortest first (see still_open()).
    std::vector<OpenParent> open;
    bool proven = true;
    // Closes the open parents whose children cannot come at or after `rel` (all of them when
    // null), checking their counts. false when one differs.
    auto close_before = [&](const std::string* rel) -> Result<bool> {
      while (!open.empty() && (!rel || !still_open(open.back().rel, *rel))) {
        OpenParent o = std::move(open.back());
        open.pop_back();
        if (o.live_children != o.staged_children && !TRY(only_kept_ephemerals_added(s, o)))
          return false;
      }
      return true;
    };
    auto st = reader.read_paths(
        [&]() -> Result<std::optional<std::string>> {
          auto m = TRY(cursor.next());
          if (!m) return std::nullopt;
          reading.push_back(std::move(*m));
          return reading.back().rel;
        },
        [&](const std::string& rel, Znode* z, const Stat& stat) -> Status {
          Meta staged = std::move(reading.front());
          reading.pop_front();
          if (staged.rel != rel) return io_error("the staging file " + base_ + ".index changed");
          proven = TRY(close_before(&rel)) && z && !z->ephemeral && same_as_staged(*z, staged);
          if (proven && rel != "/") {
            // The parent is open (rel lies in its range); longer open paths may sit above it
            // ("/a/b" above "/a" while "/a/b-c" is read).
            size_t parent_len = std::max<size_t>(rel.rfind('/'), 1);
            auto it = std::find_if(open.rbegin(), open.rend(),
                                   [&](const OpenParent& o) { return o.rel.size() == parent_len; });
            if (it == open.rend()) return io_error("the staging file " + base_ + ".index changed");
            ++it->staged_children;
          }
          if (!proven) return corruption("the live tree differs");  // stops the read
          open.push_back({rel, stat.numChildren, 0});
          return ok();
        });
    if (!st) {
      if (!proven) return false;
      return std::unexpected(std::move(st).error());
    }
    return close_before(nullptr);
  }

  // Whether a live znode's children may still come at or after `rel` in byte-wise order:
  // `rel` is below it, or starts with its path and a byte that sorts before '/' ("/a" stays open
  // over "/a-b" and its subtree, which come before "/a/c").
  static bool still_open(const std::string& parent, const std::string& rel) {
    if (parent == "/") return true;
    return rel.size() > parent.size() && rel.starts_with(parent) &&
           static_cast<unsigned char>(rel[parent.size()]) <= '/';
  }

  // The live znode has the staged data and ACL.
  bool same_as_staged(const Znode& z, const Meta& staged) {
    if (z.data.has_value() == staged.null_data) return false;
    if (z.data && digester_.of(*z.data) != staged.digest) return false;
    return z.acl == acls_.get(staged.acl);
  }

  // A staged znode with more live children than staged ones (or fewer, a child deleted since it
  // was read): lists them. true when every staged child is still there and every other child is
  // an ephemeral znode the restore leaves alone.
  Result<bool> only_kept_ephemerals_added(Session& s, const OpenParent& o) {
    std::string path = abs(o.rel);
    String_vector names{};
    int rc = zoo_get_children(s.zh(), path.c_str(), 0, &names);
    if (rc == ZNONODE) return false;
    if (rc != ZOK) return s.error(rc, "listing " + path);
    std::vector<std::string> children;
    for (int i = 0; i < names.count; ++i)
      children.push_back((o.rel == "/" ? "/" : o.rel + "/") + names.data[i]);
    deallocate_String_vector(&names);
    int32_t staged = 0;
    for (const auto& child : children) {
      if (TRY(index_->contains(child))) {
        ++staged;
        continue;
      }
      Stat st{};
      rc = zoo_exists(s.zh(), abs(child).c_str(), 0, &st);
      if (rc == ZNONODE) continue;  // its session ended since
      if (rc != ZOK) return s.error(rc, "reading " + abs(child));
      if (!is_session_owner(st.ephemeralOwner)) return false;
    }
    return staged == o.staged_children;
  }

  std::string abs(const std::string& rel) const { return rel == "/" ? p_.root : p_.root + rel; }

  // What commit() learns from comparing the live tree with the staged one, spooled to the
  // staging directory: the live znodes to delete, per staged znode in index order how the live
  // one differs (one byte), and the znodes whose ACL is set last ("<ACL id><path>").
  enum : uint8_t { kAbsent = 0, kSame = 1, kDataDiffers = 2, kAclDiffers = 4 };
  struct CommitPlan {
    explicit CommitPlan(const std::string& base)
        : to_delete(base + ".delete"), live_state(base + ".state"), acl_todo(base + ".acl") {}
    Status open() {
      TRY(to_delete.open());
      TRY(live_state.open());
      return acl_todo.open();
    }
    RecordSpool to_delete;  // "<kEphemeral or kPersistent><path>"
    SpoolFile live_state;
    RecordSpool acl_todo;
    size_t stale_locks = 0;     // ephemeral lock znodes to delete
    size_t kept_ephemeral = 0;  // ephemeral znodes of open sessions left alone
  };
  static constexpr char kPersistent = 'P', kEphemeral = 'E';

  struct CommitCounts {
    size_t deleted = 0, set_data = 0, created = 0, set_acl = 0;
  };

  // Step 1: one ordered pass over the live tree against the staged one, filling the plan's
  // to_delete and live_state. Whether the root exists.
  Result<bool> compare_with_live(Session& session, CommitPlan& plan) {
    bool root_exists = false;
    TRY(walk_live(
        session,
        [&](const Meta& l, const Meta* st) -> Status {
          root_exists = true;
          if (stale_lock(l, st)) {
            ++plan.stale_locks;
          } else if (TRY(kept_ephemeral(l, st))) {
            ++plan.kept_ephemeral;
            return ok();
          }
          if (!st || l.ephemeral)
            TRY(plan.to_delete.append((l.ephemeral ? kEphemeral : kPersistent) + l.rel));
          if (!st) return ok();
          char state = static_cast<char>(
              l.ephemeral
                  ? kAbsent
                  : kSame |
                        (l.null_data != st->null_data || l.digest != st->digest ? kDataDiffers
                                                                                : 0) |
                        (l.acl != st->acl ? kAclDiffers : 0));
          return plan.live_state.append({&state, 1});
        },
        [&](const Meta&) -> Status {
          char state = kAbsent;
          return plan.live_state.append({&state, 1});
        }));
    if (plan.live_state.size() != index_->size())
      return io_error("the staging file " + base_ + ".state is incomplete");
    return root_exists;
  }

  // Step 2: deletes the live znodes the backup does not hold, children first (reverse
  // byte-wise order). An ephemeral znode is deleted on its own, and its being gone already is no
  // failure: its session may expire at any time.
  Status delete_extra(Writer& w, CommitPlan& plan, CommitCounts& n) {
    RecordSpool::Cursor dels(plan.to_delete, true);
    while (auto rec = TRY(dels.next())) {
      if (rec->size() < 2) return io_error("the staging file " + base_ + ".delete is damaged");
      Op::Kind kind = (*rec)[0] == kEphemeral ? Op::kDeleteIfExists : Op::kDelete;
      TRY(w.add({kind, abs(std::string(rec->substr(1))), std::nullopt, nullptr}));
      ++n.deleted;
    }
    return ok();
  }

  // Step 3: in payload order (parents first), sets the data of kept znodes whose data differs
  // and creates the missing ones. The data comes from the staging file, read again line by
  // line. A znode that gets children and whose ACL does not let world:anyone create is created
  // with a temporary ACL (auth:ALL with digest credentials, world:anyone:ALL without); it and
  // the znodes whose ACL differs are spooled to plan.acl_todo for step 4.
  Status write_staged(Writer& w, bool authenticated, CommitPlan& plan, CommitCounts& n) {
    auto temp_acl = std::make_shared<const CAcl>(
        authenticated ? std::vector<Acl>{{ZOO_PERM_ALL, "auth", ""}}
                      : std::vector<Acl>{{ZOO_PERM_ALL, "world", "anyone"}});
    std::ifstream in(file_, std::ios::binary);
    if (!in) return errno_error("reading the staging file " + file_, errno);
    std::string line;
    StagedIndex::Cursor idx(*index_);
    std::optional<Meta> next = TRY(idx.next());
    for (size_t i = 0; next; ++i) {
      Meta m = std::move(*next);
      next = TRY(idx.next());  // one ahead: whether m gets children
      if (!std::getline(in, line)) return io_error("the staging file " + file_ + " shrank");
      uint8_t state = static_cast<uint8_t>(TRY(plan.live_state.read(i, 1, false))[0]);
      bool create = state == kAbsent;
      bool temp = false;
      if (create || (state & kDataDiffers)) {
        auto [rel, z] = TRY(parse_line(line, i + 1));
        if (rel != m.rel) return io_error("the staging file " + file_ + " changed");
        if (!create) {
          TRY(w.add({Op::kSetData, abs(m.rel), std::move(z.data), nullptr}));
          ++n.set_data;
        } else {
          const auto& acl = acls_.get(m.acl);
          bool world_create = std::any_of(acl.begin(), acl.end(), [](const Acl& a) {
            return a.scheme == "world" && a.id == "anyone" && (a.perms & ZOO_PERM_CREATE);
          });
          bool has_children = next && next->rel.starts_with(m.rel == "/" ? "/" : m.rel + "/");
          temp = has_children && !world_create;
          TRY(w.add({Op::kCreate, abs(m.rel), std::move(z.data), temp ? temp_acl : cacl(m.acl)}));
          ++n.created;
        }
      }
      if ((state & kAclDiffers) || temp) {
        std::string rec(4, '\0');
        std::memcpy(rec.data(), &m.acl, 4);
        rec += m.rel;
        TRY(plan.acl_todo.append(rec));
      }
    }
    return ok();
  }

  // Step 4: the final ACLs, children first, so an ACL that forbids later writes is applied
  // after the children exist.
  Status set_final_acls(Writer& w, CommitPlan& plan, CommitCounts& n) {
    RecordSpool::Cursor acls(plan.acl_todo, true);
    while (auto rec = TRY(acls.next())) {
      if (rec->size() < 5) return io_error("the staging file " + base_ + ".acl is damaged");
      uint32_t id;
      std::memcpy(&id, rec->data(), 4);
      if (id >= acls_.size()) return io_error("the staging file " + base_ + ".acl is damaged");
      TRY(w.add({Op::kSetAcl, abs(std::string(rec->substr(4))), std::nullopt, cacl(id)}));
      ++n.set_acl;
    }
    return ok();
  }

  // One C-layout ACL per distinct ACL, shared by its ops: no per-znode copies.
  std::shared_ptr<const CAcl> cacl(uint32_t id) {
    if (cacls_.size() < acls_.size()) cacls_.resize(acls_.size());
    if (!cacls_[id]) cacls_[id] = std::make_shared<const CAcl>(acls_.get(id));
    return cacls_[id];
  }

  // Whether the parent of `rel` is in the index so far, `prev` being the last path added. All
  // ancestors of `prev` are (each path was checked for its parent), so a parent that is `prev`
  // or one of its ancestors needs no lookup; byte-wise order interleaves a sibling such as
  // "/a-b" between "/a" and "/a/c", and only then the index is searched.
  Result<bool> has_staged_parent(const std::string& rel, const std::string& prev) {
    std::string parent = parent_view(rel);
    if (parent == "/" || parent == prev ||
        (prev.starts_with(parent) && prev.size() > parent.size() && prev[parent.size()] == '/'))
      return true;
    return index_->contains(parent);
  }

  // A live ephemeral Flink lock (<record>/locks/<lock>) that is not a path of the backup: left
  // by a JobManager whose session is still open (it may have died less than a session timeout
  // ago, or be frozen). Deleted: a restored cluster starts with its records unlocked, and a lock
  // left in place would keep the new JobManager from ever removing that record.
  static bool stale_lock(const Meta& live, const Meta* staged) {
    return live.ephemeral && !staged && flink::classify(live.rel).kind == flink::NodeKind::kLock;
  }

  // Whether the staged tree is Flink's layout before 1.15 (checkpoints/<job>/..., a
  // checkpoint-counter or running_job_registry node, and no node of the later layout): its job
  // graphs then take their locks as direct ephemeral children and get no `locks` child. One
  // pass over the paths of the staged parts.
  Result<bool> legacy_layout() {
    std::ifstream in(raw_file_, std::ios::binary);
    if (!in) return errno_error("reading the staging file " + raw_file_, errno);
    bool legacy = false, modern = false;
    std::string line;
    for (size_t lineno = 1; std::getline(in, line); ++lineno) {
      std::string rel;
      if (!path_of_canonical(line, rel)) rel = TRY(parse_line(line, lineno)).first;
      switch (flink::classify(rel).kind) {
        case flink::NodeKind::kLegacyCheckpoint:
        case flink::NodeKind::kLegacyCheckpointCounter:
          legacy = true;
          break;
        case flink::NodeKind::kExecutionPlan:
        case flink::NodeKind::kCheckpoint:
        case flink::NodeKind::kCheckpointCounter:
        case flink::NodeKind::kLocks:
          modern = true;
          break;
        default:
          if (rel.ends_with("/running_job_registry")) legacy = true;
      }
    }
    return legacy && !modern;
  }

  // The path of a line in the form append_line() writes, without decoding its data (the bulk of
  // a line); false for any other spelling or a path with escapes, which parse_line() reads.
  static bool path_of_canonical(std::string_view line, std::string& rel) {
    static constexpr std::string_view kKey = ",\"path\":\"";
    size_t at = line.rfind(kKey);
    if (at == std::string_view::npos) return false;
    size_t start = at + kKey.size();
    size_t end = line.find('"', start);
    if (end == std::string_view::npos) return false;
    std::string_view rest = line.substr(end);
    if (rest != "\",\"sequential\":false}" && rest != "\",\"sequential\":true}") return false;
    std::string_view p = line.substr(start, end - start);
    if (p.find('\\') != std::string_view::npos) return false;
    rel.assign(p);
    return true;
  }

  // A live ephemeral znode that a restore leaves alone: not a path of the backup (`staged` is
  // null), parent kept.
  Result<bool> kept_ephemeral(const Meta& live, const Meta* staged) {
    if (!live.ephemeral || staged) return false;
    return index_->contains(parent_view(live.rel));
  }

  // Reads the live tree and walks it against the staged one in one ordered pass, keeping
  // nothing of either: on_live(live, staged znode of that path or null) for every live znode,
  // on_missing(staged znode) for every staged znode the live tree lacks, both in byte-wise path
  // order; every staged znode gets exactly one of the two. A missing root is an empty live tree.
  Status walk_live(Session& s, const std::function<Status(const Meta&, const Meta*)>& on_live,
                   const std::function<Status(const Meta&)>& on_missing) {
    TreeReader reader(s, p_.root, nullptr);
    TRY(reader.open_sessions(p_));
    StagedIndex::Cursor staged(*index_);
    std::optional<Meta> cur = TRY(staged.next());
    auto st = reader.read([&](const std::string& rel, Znode& z) -> Status {
      Meta l = make_meta(rel, z, acls_, digester_);
      while (cur && cur->rel < l.rel) {
        TRY(on_missing(*cur));
        cur = TRY(staged.next());
      }
      if (cur && cur->rel == l.rel) {
        TRY(on_live(l, &*cur));
        cur = TRY(staged.next());
        return ok();
      }
      return on_live(l, nullptr);
    });
    if (!st && st.error().code != Errc::kNotFound) return st;
    while (cur) {
      TRY(on_missing(*cur));
      cur = TRY(staged.next());
    }
    return ok();
  }

  // Creates the (missing) ancestors of the root, open, with null data.
  Status create_ancestors(Session& s) {
    for (size_t pos = p_.root.find('/', 1); pos != std::string::npos;
         pos = p_.root.find('/', pos + 1)) {
      std::string path = p_.root.substr(0, pos);
      int rc = zoo_create(s.zh(), path.c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                          nullptr, 0);
      if (rc != ZOK && rc != ZNODEEXISTS) return s.error(rc, "creating " + path);
    }
    return ok();
  }

  Params p_;
  std::function<void(const std::string&)> log_;
  std::string prefix_;
  std::vector<PointerRewrite>* rewrites_ = nullptr;  // migration; counts what it rewrote
  std::string base_;      // staging files: base_ + ".jsonl", ".index", ".offsets", ...
  std::string raw_file_;  // the parts as added
  std::string file_;      // the parts validated, with the locks children added (finish_staging)
  std::ofstream out_;
  size_t parts_ = 0;
  std::unique_ptr<StagedIndex> index_;
  AclTable acls_;
  Digester digester_;
  bool finished_ = false;
  bool committed_ = false;
  bool absent_ = false;                             // the backup records a root that did not exist
  std::vector<std::shared_ptr<const CAcl>> cacls_;  // by ACL id, built when first used
};

}  // namespace

Result<std::unique_ptr<StagedRestore>> begin_restore(const Params& p,
                                                     const std::string& source_name,
                                                     const TaskContext& ctx) {
  auto staged = std::make_unique<ZkStagedRestore>(p, source_name, ctx);
  TRY(staged->open());
  return std::unique_ptr<StagedRestore>(std::move(staged));
}

}  // namespace flinkbr::source::zookeeper
