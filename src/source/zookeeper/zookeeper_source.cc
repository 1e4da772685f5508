#include "source/zookeeper/zookeeper_source.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <utility>

#include "source/flink/layout.h"
#include "source/zookeeper/codec.h"
#include "source/zookeeper/flink_capture.h"
#include "source/zookeeper/payload_writer.h"
#include "source/zookeeper/session.h"
#include "source/zookeeper/staged_restore.h"
#include "source/zookeeper/tree_reader.h"

namespace flinkbr::source::zookeeper {

namespace {

std::string field_name(const config::SourceConfig& cfg, std::string_view key) {
  return cfg.key_path.empty() ? std::string(key) : cfg.key_path + "." + std::string(key);
}

// ---- the source ----

class ZkSource final : public MetadataSource {
 public:
  ZkSource(config::SourceConfig cfg, Params p) : cfg_(std::move(cfg)), p_(std::move(p)) {
    prefix_ = "zookeeper source '" + cfg_.name + "': ";
  }

  const config::SourceConfig& config() const override { return cfg_; }

  std::string location() const override { return "zookeeper://" + p_.connect + p_.root; }

  // A missing root is no failure: a restore creates it and its missing parents (a new cluster,
  // or one whose whole HA tree was deleted), and a backup records it as absent.
  Status check() override {
    auto s = TRY(Session::open(p_));
    String_vector children{};
    int rc = zoo_get_children(s->zh(), p_.root.c_str(), 0, &children);
    if (rc == ZOK) deallocate_String_vector(&children);
    if (rc == ZNONODE) return ok();
    if (rc == ZNOAUTH)
      return make_error(Errc::kPermissionDenied,
                        "not allowed to read znode " + p_.root + " on " + p_.connect +
                            (s->authenticated() ? " with the configured digest credentials"
                                                : " without credentials"));
    if (rc != ZOK) return s->error(rc, "reading " + p_.root);
    return ok();
  }

  Status backup(archive::SourceArchiveWriter& out, const TaskContext& ctx) override {
    auto t0 = std::chrono::steady_clock::now();
    auto s = TRY(Session::open(p_));
    TreeReader reader(*s, p_.root, &ctx);
    TRY(reader.open_sessions(p_));
    PayloadWriter payload(out, static_cast<int64_t>(std::time(nullptr)));
    size_t ephemeral = 0;
    // How a znode is stored: an ephemeral one is left out, one whose ACL ZooKeeper masked is
    // refused.
    FlinkCapture::Out to_payload{
        .emit = [&](const std::string& rel, Znode& z) -> Status {
          if (z.ephemeral) {
            ++ephemeral;
            return ok();
          }
          TRY(refuse_masked_acl(reader.abs(rel), z.acl));
          return payload.add(rel, z, reader.abs(rel));
        },
        .encode = [&](const std::string& rel, const Znode& z, std::string& line) -> Status {
          TRY(refuse_masked_acl(reader.abs(rel), z.acl));
          return PayloadWriter::encode(line, rel, z, reader.abs(rel));
        },
        .emit_line = [&](std::string_view line) { return payload.add_line(line); }};
    // With files sources in the same backup, Flink's records and the files they point to are
    // captured as one unit (flink_capture.h).
    std::unique_ptr<FlinkCapture> capture;
    if (ctx.pin) capture = TRY(FlinkCapture::open(p_, *ctx.pin, ctx, to_payload));
    // What the capture reads itself is not read twice (it replaces the live read).
    if (capture) reader.skip_subtrees(&FlinkCapture::owns_subtree);
    auto read = reader.read([&](const std::string& rel, Znode& z) -> Status {
      return capture ? capture->merge(rel, z) : to_payload.emit(rel, z);
    });
    if (!read && read.error().code == Errc::kNotFound && payload.znodes() == 0) {
      // The root does not exist: the payload records it as absent, so that restoring this
      // backup (a safety copy, say) removes what is there by then.
      if (ctx.log)
        ctx.log(prefix_ + "znode " + p_.root + " does not exist on " + p_.connect +
                ": backed up as absent");
      return payload.finish();
    }
    TRY(std::move(read));
    if (capture) TRY(capture->finish());
    TRY(payload.finish());
    if (ctx.log) {
      ctx.log(prefix_ + "backed up " + std::to_string(payload.znodes()) + " znodes under " +
              p_.root + " in " + seconds_since(t0));
      ctx.log(prefix_ + "left out " + std::to_string(ephemeral) + " ephemeral znodes");
    }
    return ok();
  }

  // Ephemeral Flink leader znodes (leader latches, connection info) under the root: each belongs
  // to an open ZooKeeper session, the sign of a JobManager that is still running or died less
  // than a session timeout ago. One warning per znode, at most kWarningsListed, then a count.
  Result<std::vector<std::string>> live_warnings() override {
    static constexpr size_t kWarningsListed = 5;
    auto s = TRY(Session::open(p_));
    TreeReader reader(*s, p_.root, nullptr);
    TRY(reader.open_sessions(p_));
    std::vector<std::string> out;
    size_t found = 0;
    auto st = reader.read([&](const std::string& rel, Znode& z) -> Status {
      if (!z.ephemeral || flink::classify(rel).kind != flink::NodeKind::kLeader) return ok();
      if (++found > kWarningsListed) return ok();
      char session[32];
      std::snprintf(session, sizeof session, "0x%llx", static_cast<unsigned long long>(z.owner));
      out.push_back(prefix_ + "the ephemeral leader znode " + reader.abs(rel) +
                    " belongs to the open ZooKeeper session " + session +
                    ": a JobManager of this cluster may still be running (or stopped less than "
                    "a session timeout ago)");
      return ok();
    });
    if (!st && st.error().code != Errc::kNotFound) return std::unexpected(std::move(st).error());
    if (found > kWarningsListed)
      out.push_back(prefix_ + "and " + std::to_string(found - kWarningsListed) +
                    " more ephemeral leader znodes of open sessions");
    return out;
  }

  Result<std::unique_ptr<StagedRestore>> begin_restore(const TaskContext& ctx) override {
    if (ctx.staging_dir.empty()) return failed_precondition("no staging directory for the restore");
    if (ctx.id.empty() || ctx.id.find('/') != std::string::npos || ctx.id.starts_with("."))
      return invalid_argument("ctx.id", "'" + ctx.id + "' is not a valid attempt id");
    return zookeeper::begin_restore(p_, cfg_.name, ctx);
  }

  // Staging lives in the engine's staging directory, which the engine removes; nothing of an
  // interrupted attempt is left in ZooKeeper apart from the partly restored tree, which the
  // engine's safety copy puts back.
  Status cleanup_after_crash(const std::string&) override { return ok(); }

 private:
  // ZooKeeper answers getACL to a session without ADMIN permission on a znode with its digest
  // ids masked ("flink:x" instead of "flink:<base64 SHA-1>"). Restoring such an ACL would set a
  // digest nobody can match and lock Flink out of its own znode, so a backup refuses it.
  Status refuse_masked_acl(const std::string& path, const std::vector<Acl>& acl) const {
    for (const auto& a : acl) {
      if (a.scheme != "digest" || !a.id.ends_with(":x")) continue;
      return make_error(
          Errc::kPermissionDenied,
          "znode " + path + " has the ACL entry digest:" + a.id +
              ", which ZooKeeper masked because these credentials lack ADMIN permission on it: "
              "a backup cannot record its ACL. Configure digest_credentials_file with the "
              "digest credentials (user:password) of the znode's owner '" +
              a.id.substr(0, a.id.size() - 2) + "' or of a ZooKeeper super user",
          field_name(cfg_, "digest_credentials_file"));
    }
    return ok();
  }

  const config::SourceConfig cfg_;
  Params p_;
  std::string prefix_;
};

}  // namespace

Result<Params> params_from_config(const config::SourceConfig& cfg) {
  if (!cfg.params.is_object())
    return invalid_argument(cfg.key_path, "the settings of a zookeeper source must be a map");
  Params p;
  for (const auto& [key, value] : cfg.params.items()) {
    std::string f = field_name(cfg, key);
    if (key != "connect" && key != "root" && key != "session_timeout" &&
        key != "digest_credentials_file")
      return invalid_argument(f, "unknown key '" + key +
                                     "' for a zookeeper source (expected: connect, root, "
                                     "session_timeout, digest_credentials_file)");
    if (!value.is_string()) return invalid_argument(f, "must be a string");
  }
  auto get = [&](std::string_view key) -> std::string {
    auto it = cfg.params.find(std::string(key));
    return it == cfg.params.end() ? std::string() : it->get<std::string>();
  };
  p.connect = get("connect");
  if (p.connect.empty())
    return invalid_argument(field_name(cfg, "connect"),
                            "a zookeeper source needs a connect string (host:port[,host:port])");
  for (char c : p.connect)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return invalid_argument(field_name(cfg, "connect"),
                              "must not contain spaces or control characters");
  p.root = get("root");
  if (p.root.empty())
    return invalid_argument(field_name(cfg, "root"), "a zookeeper source needs a root znode");
  if (p.root == "/" || !valid_rel_path(p.root))
    return invalid_argument(field_name(cfg, "root"),
                            "'" + p.root +
                                "' must be an absolute, normalized znode path below / "
                                "(e.g. /flink/cluster-1)");
  if (auto t = get("session_timeout"); !t.empty()) {
    p.session_timeout_s = TRY(config::parse_duration(t, field_name(cfg, "session_timeout")));
    if (p.session_timeout_s > 3600)
      return invalid_argument(field_name(cfg, "session_timeout"), "must be at most 1h");
  }
  p.credentials_file = get("digest_credentials_file");
  if (!p.credentials_file.empty() && p.credentials_file[0] != '/')
    return invalid_argument(field_name(cfg, "digest_credentials_file"), "must be an absolute path");
  return p;
}

Status validate_config(const config::SourceConfig& cfg) {
  TRY(params_from_config(cfg));
  return ok();
}

Result<std::unique_ptr<MetadataSource>> create(const config::SourceConfig& cfg) {
  Params p = TRY(params_from_config(cfg));
  return std::make_unique<ZkSource>(cfg, std::move(p));
}

Result<std::unique_ptr<PayloadCheck>> make_payload_check(const archive::SourceDescriptor& desc,
                                                         const TaskContext& ctx) {
  TaskContext own = ctx;
  own.rewrites = nullptr;  // a check reads the payload as the file holds it
  // No connection: staging uses the root only in its messages.
  auto staged = TRY(begin_restore(Params{.root = desc.location}, desc.name, own));
  return std::unique_ptr<PayloadCheck>(
      std::make_unique<StagingPayloadCheck>(std::move(staged), /*keeps_data=*/true));
}

}  // namespace flinkbr::source::zookeeper
