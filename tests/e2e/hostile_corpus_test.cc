// End-to-end: one validator decides for verify and for restore (issue 16, point 3). A corpus of
// hostile backup files, each made from a real backup of the test cluster and changed in one way
// an attacker or a broken tool could, goes through `backup verify` AND a restoration: both must
// refuse it with the same reason, the restoration before anything is staged, and the live tree
// must not change. The corpus holds files whose archive is hostile, and files whose archive is
// sound but whose payload no restore of its kind accepts (files, zookeeper, postgres): verify runs
// the staging checks of each kind too (source::PayloadCheck).
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/sysmacros.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "archive/format.h"
#include "harness.h"
#include "io/layers.h"
#include "support/postgres_server.h"
#include "support/zookeeper_server.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One tar entry as the corpus generator handles it.
struct Raw {
  std::string path;
  unsigned type = AE_IFREG;
  std::string data;
  uint32_t mode = 0644;
  int64_t mtime = 1700000000;
  std::string link;       // symlink or hard link target
  bool hardlink = false;  // `link` is a hard link target
};

std::string gunzip(const std::string& gz) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out;
  char buf[1 << 16];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    EXPECT_TRUE(rc == Z_OK || rc == Z_STREAM_END) << rc;
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - z.avail_out);
  }
  inflateEnd(&z);
  return out;
}

// The entries of a (good) backup file, header and manifest included.
std::vector<Raw> read_entries(const std::string& path) {
  std::string tar = gunzip(read_file(path));
  std::vector<Raw> out;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, tar.data(), tar.size()), ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    Raw r;
    r.path = archive_entry_pathname(e);
    if (r.path.size() > 1 && r.path.back() == '/') r.path.pop_back();
    r.type = archive_entry_filetype(e);
    r.mode = static_cast<uint32_t>(archive_entry_perm(e));
    r.mtime = archive_entry_mtime(e);
    char buf[1 << 16];
    for (la_ssize_t n; (n = archive_read_data(a, buf, sizeof buf)) > 0;) r.data.append(buf, n);
    out.push_back(std::move(r));
  }
  archive_read_free(a);
  return out;
}

la_ssize_t append_cb(struct archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

std::string make_tar(const std::vector<Raw>& entries) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  EXPECT_EQ(archive_write_open(a, &out, nullptr, &append_cb, nullptr), ARCHIVE_OK);
  for (const auto& r : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, r.path.c_str());
    archive_entry_set_filetype(e, r.type);
    archive_entry_set_perm(e, r.mode);
    archive_entry_set_mtime(e, r.mtime, 0);
    archive_entry_set_size(
        e, r.type == AE_IFREG && !r.hardlink ? static_cast<la_int64_t>(r.data.size()) : 0);
    if (r.type == AE_IFLNK) archive_entry_set_symlink(e, r.link.c_str());
    if (r.type == AE_IFCHR) archive_entry_set_rdev(e, makedev(1, 3));
    if (r.hardlink) archive_entry_set_hardlink(e, r.link.c_str());
    EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    if (r.type == AE_IFREG && !r.hardlink && !r.data.empty())
      archive_write_data(a, r.data.data(), r.data.size());
    archive_entry_free(e);
  }
  EXPECT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
  return out;
}

// The payload entries (no header, no manifest) and a manifest that describes them honestly.
std::vector<Raw> payload_of(const std::vector<Raw>& all) {
  std::vector<Raw> out;
  for (const auto& r : all)
    if (r.path != archive::kHeaderEntry && r.path != archive::kManifestEntry) out.push_back(r);
  return out;
}
Raw honest_manifest(const std::vector<Raw>& payload) {
  archive::Manifest m;
  for (const auto& r : payload) {
    archive::ManifestEntry e{.path = r.path, .mode = r.mode & 07777, .mtime = r.mtime};
    if (r.type == AE_IFDIR) {
      e.type = archive::EntryType::kDirectory;
    } else {
      e.size = r.data.size();
      e.sha256 = io::sha256_hex(r.data);
    }
    m.entries.push_back(std::move(e));
  }
  return {std::string(archive::kManifestEntry), AE_IFREG, m.to_json()};
}

// A hostile file: its name, how to make it from the good file's entries, and the reason both
// verify and restore must give.
struct Hostile {
  std::string name;
  std::function<std::string(const std::vector<Raw>& good, const std::string& good_gz)> make;
  std::string reason;
};

// header + payload (changed by `edit`) + honest manifest, gzipped.
std::function<std::string(const std::vector<Raw>&, const std::string&)> honest(
    std::function<void(std::vector<Raw>&)> edit) {
  return [edit](const std::vector<Raw>& good, const std::string&) {
    std::vector<Raw> payload = payload_of(good);
    edit(payload);
    std::vector<Raw> all{good.front()};
    all.insert(all.end(), payload.begin(), payload.end());
    all.push_back(honest_manifest(payload));
    return gzip_member(make_tar(all));
  };
}

Raw& find(std::vector<Raw>& entries, const std::string& path) {
  for (auto& r : entries)
    if (r.path == path) return r;
  ADD_FAILURE() << "no entry " << path;
  return entries.front();
}

const std::string kBlob = "sources/ha/tree/default/blob/job_7a1c/blob_p-1";
const std::string kConf = "sources/conf/tree/flink-conf.yaml";

std::vector<Hostile> corpus() {
  std::vector<Hostile> c;
  auto add_entry = [](Raw r) { return honest([r](std::vector<Raw>& p) { p.push_back(r); }); };
  c.push_back({"setuid", honest([](auto& p) { find(p, kConf).mode = 04777; }),
               "has mode 4777: a backup file carries permission bits only"});
  c.push_back({"setgid", honest([](auto& p) { find(p, kConf).mode = 02755; }),
               "has mode 2755: a backup file carries permission bits only"});
  c.push_back({"sticky", honest([](auto& p) { find(p, "sources/ha/tree/default").mode = 01777; }),
               "has mode 1777: a backup file carries permission bits only"});
  c.push_back({"device", add_entry({"sources/conf/tree/null", AE_IFCHR, "", 0666}),
               "entry sources/conf/tree/null is a device"});
  c.push_back({"fifo", add_entry({"sources/conf/tree/pipe", AE_IFIFO, "", 0644}),
               "entry sources/conf/tree/pipe is a FIFO"});
  c.push_back(
      {"symlink",
       add_entry({"sources/conf/tree/passwd", AE_IFLNK, "", 0777, 1700000000, "/etc/passwd"}),
       "entry sources/conf/tree/passwd is a symbolic link"});
  c.push_back({"hardlink",
               add_entry({"sources/conf/tree/hard", AE_IFREG, "", 0644, 1700000000, kConf, true}),
               "entry sources/conf/tree/hard is a hard link"});
  c.push_back({"dotdot", add_entry({"sources/conf/tree/../../../escape", AE_IFREG, "x", 0644}),
               "sources/conf/tree/../../../escape"});
  c.push_back(
      {"absolute", add_entry({"/etc/flinkbr-escape", AE_IFREG, "x", 0644}), "/etc/flinkbr-escape"});
  c.push_back({"duplicate", honest([](auto& p) { p.push_back(find(p, kConf)); }),
               "entry " + kConf + " appears twice"});
  c.push_back({"file-under-file", add_entry({kConf + "/inside", AE_IFREG, "x", 0644}),
               "entry " + kConf + "/inside is under " + kConf + ", which is a file"});
  c.push_back({"unlisted-source", add_entry({"sources/other", AE_IFDIR, "", 0755}),
               "entry sources/other belongs to no source listed in the file's header"});
  c.push_back({"header-lists-a-source-twice",
               [](const std::vector<Raw>& good, const std::string&) {
                 std::vector<Raw> all = good;
                 auto h = json::parse(all.front().data);
                 h["sources"].push_back(h["sources"][0]);
                 all.front().data = h.dump();
                 return gzip_member(make_tar(all));
               },
               "is listed twice"});
  c.push_back({"two-gzip-members",
               [](const std::vector<Raw>&, const std::string& gz) {
                 return gz + gzip_member("not covered");
               },
               "gzip stream has data after its end"});
  c.push_back(
      {"truncated",
       [](const std::vector<Raw>&, const std::string& gz) { return gz.substr(0, gz.size() / 2); },
       "gzip stream is truncated"});
  c.push_back({"bad-checksum",
               [](const std::vector<Raw>& good, const std::string&) {
                 std::vector<Raw> all = good;  // the manifest as it was, the data changed
                 std::string& d = find(all, kBlob).data;
                 d[10] ^= 1;
                 return gzip_member(make_tar(all));
               },
               "checksum mismatch for " + kBlob});
  c.push_back({"manifest-lies-about-size",
               [](const std::vector<Raw>& good, const std::string&) {
                 std::vector<Raw> payload = payload_of(good);
                 Raw manifest = honest_manifest(payload);
                 auto m = archive::Manifest::from_json(manifest.data);
                 EXPECT_TRUE(m);
                 for (auto& e : m->entries)
                   if (e.path == kBlob) e.size = 7;
                 manifest.data = m->to_json();
                 std::vector<Raw> all{good.front()};
                 all.insert(all.end(), payload.begin(), payload.end());
                 all.push_back(manifest);
                 return gzip_member(make_tar(all));
               },
               "size mismatch for " + kBlob + ": the manifest says 7 bytes"});
  // 64 MiB of zeros (about 64 KiB compressed), listed honestly: over the cap the test daemon
  // sets (restore.max_expanded_bytes: 32MiB).
  c.push_back({"bomb",
               add_entry({"sources/ha/tree/bomb", AE_IFREG, std::string(64 << 20, '\0'), 0644}),
               "more than restore.max_expanded_bytes allows"});
  // The bomb, then an entry of conf without its parent directory: the restore's verify step
  // stops staging at the bomb, and no staging sees conf's entry; verify refuses the payload
  // first, so the restore must too (issue 18 attack review: it gave the cap).
  c.push_back({"bomb-then-orphan", honest([](auto& p) {
                 p.insert(p.begin() + 1,
                          {"sources/ha/tree/bomb", AE_IFREG, std::string(64 << 20, '\0'), 0644});
                 p.push_back({"sources/conf/tree/no-such-dir/orphan", AE_IFREG, "x", 0644});
               }),
               "entry 'sources/conf/tree/no-such-dir/orphan' comes before its parent directory"});
  return c;
}

// Runs every file of `corpus` (made from the good file `good_path`) through `backup verify` and
// through a restoration of cluster "prod": both must refuse it with its reason, the restoration
// before a safety copy or staging, and `unchanged` must hold after each. Returns how many each
// refused with the right reason (for the closing note of issue 16).
std::pair<int, int> run_corpus(Daemon& d, const std::string& good_path,
                               const std::vector<Hostile>& corpus,
                               const std::function<void()>& unchanged) {
  const std::string good_gz = read_file(good_path);
  const std::vector<Raw> good = read_entries(good_path);
  EXPECT_GT(good.size(), 4u);
  EXPECT_EQ(good.front().path, archive::kHeaderEntry);

  // The generator itself: the good file rebuilt with an honest manifest passes both.
  const std::string rebuilt = d.root() + "/1.18.1_Flink_20260101000000.tar.gz";
  write_file(rebuilt, honest([](auto&) {})(good, good_gz));
  auto v = d.cli({"backup", "verify", "--path-type", "LocalDir", "--source-path", rebuilt});
  EXPECT_EQ(v.exit_code, 0) << v.err;

  int verify_refused = 0, restore_refused = 0, n = 0;
  for (const Hostile& h : corpus) {
    SCOPED_TRACE(h.name);
    const std::string path =
        d.root() + "/hostile-" + std::to_string(++n) + "/1.18.1_Flink_20260101000000.tar.gz";
    fs::create_directories(fs::path(path).parent_path());
    write_file(path, h.make(good, good_gz));

    auto verify = d.cli({"backup", "verify", "--path-type", "LocalDir", "--source-path", path});
    EXPECT_NE(verify.exit_code, 0) << "verify passed " << h.name;
    EXPECT_NE(verify.err.find(h.reason), std::string::npos) << verify.err;
    if (verify.exit_code != 0 && verify.err.find(h.reason) != std::string::npos) ++verify_refused;

    const std::string task = "hostile-" + std::to_string(n);
    auto c = d.cli({"restore", "create", task, "--cluster", "prod", "--data-source", "Flink",
                    "--path-type", "LocalDir", "--source-path", path});
    std::string restore_error;
    if (c.exit_code == 0) {
      auto s = d.cli({"restore", "start", task, "--wait"});
      EXPECT_NE(s.exit_code, 0) << "restore accepted " << h.name;
      auto shown = json::parse(d.cli({"restore", "show", task, "--json"}).out);
      EXPECT_EQ(shown["state"], "Failed");
      restore_error = shown["error"].get<std::string>();
      // Refused before anything live changed: by the check or the verify step, before the
      // safety copy.
      const auto& attempt = shown["attempt_history"].back();
      for (const auto& step : attempt["steps"]) {
        EXPECT_TRUE(step["name"] == "check" || step["name"] == "verify") << attempt.dump();
      }
    } else {
      restore_error = c.err;  // a file checked at creation may be refused there already
    }
    EXPECT_NE(restore_error.find(h.reason), std::string::npos) << restore_error;
    if (restore_error.find(h.reason) != std::string::npos) ++restore_refused;
    unchanged();
    // The verify step stages as it reads (issue 18): nothing of what it staged from this file is
    // left beside the live trees or in the staging directory.
    for (const auto& e : fs::directory_iterator(d.root() + "/cluster"))
      EXPECT_FALSE(e.path().filename().string().starts_with(".")) << h.name << ": " << e.path();
    if (fs::exists(d.state_dir() + "/staging")) {
      for (const auto& e : fs::directory_iterator(d.state_dir() + "/staging")) {
        EXPECT_TRUE(fs::is_empty(e.path())) << h.name << ": " << e.path();
      }
    }
  }
  return {verify_refused, restore_refused};
}

TEST(HostileCorpus, VerifyAndRestoreRefuseEveryFileWithTheSameReasonAndChangeNothing) {
  Daemon d;
  d.add_top_level_config("restore:\n  max_expanded_bytes: 32MiB\n");
  d.seed_cluster();
  d.set_service_state("stopped");
  const std::string good_path = d.backup();
  const Tree before = cluster_tree(d);
  const auto c = corpus();
  auto [verify_refused, restore_refused] = run_corpus(
      d, good_path, c, [&] { EXPECT_EQ(describe_difference(before, cluster_tree(d)), ""); });
  const int n = static_cast<int>(c.size());
  std::printf("hostile corpus: %d files, %d refused by verify, %d refused by restore\n", n,
              verify_refused, restore_refused);
  EXPECT_EQ(verify_refused, n);
  EXPECT_EQ(restore_refused, n);
}

// The lines of a zookeeper payload part, without their newlines.
std::vector<std::string> lines_of(const std::string& part) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t nl; (nl = part.find('\n', pos)) != std::string::npos; pos = nl + 1)
    out.push_back(part.substr(pos, nl - pos));
  return out;
}
std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

const std::string kZkPart = "sources/zk/znodes/part-000001.jsonl";
const std::string kPgSchema = "sources/jobs-db/schema.json";
const std::string kPgPreData = "sources/jobs-db/schema/pre-data.sql";
const std::string kPgUsers = "sources/jobs-db/tables/users/part-000001.copy";

// Files whose archive is sound (honest manifest, no hostile entry) but whose payload a restore of
// its kind refuses while staging; each reason is the staging's own message.
std::vector<Hostile> payload_corpus(const std::vector<Raw>& good) {
  std::vector<Hostile> c;
  // files
  c.push_back({"files-entry-without-its-directory", honest([](auto& p) {
                 p.push_back({"sources/conf/tree/nodir/x", AE_IFREG, "x", 0644});
               }),
               "staging sources/conf/tree/nodir/x: entry 'sources/conf/tree/nodir/x' comes "
               "before its parent directory, or its parent is not a directory"});
  c.push_back({"files-entry-outside-the-tree", honest([](auto& p) {
                 p.push_back({"sources/conf/elsewhere", AE_IFREG, "x", 0644});
               }),
               "entry 'sources/conf/elsewhere' is not part of a files payload (expected 'tree' or "
               "'tree/...')"});
  c.push_back({"files-without-root", honest([](auto& p) {
                 std::erase_if(p, [](const Raw& r) {
                   return r.path == "sources/conf" || r.path.starts_with("sources/conf/");
                 });
               }),
               "staging source 'conf': the files payload has no root entry 'tree'"});
  // zookeeper
  c.push_back({"zookeeper-part-misnamed", honest([](auto& p) {
                 find(p, kZkPart).path = "sources/zk/znodes/part-000002.jsonl";
               }),
               "zookeeper payload: unexpected entry 'sources/zk/znodes/part-000002.jsonl' "
               "(expected znodes/part-000001.jsonl)"});
  c.push_back({"zookeeper-line-cut", honest([](auto& p) {
                 std::string& d = find(p, kZkPart).data;
                 d.resize(d.size() - 5);
               }),
               "zookeeper payload: entry '" + kZkPart + "' does not end a line"});
  std::vector<std::string> lines;
  for (const auto& r : good)
    if (r.path == kZkPart) lines = lines_of(r.data);
  EXPECT_GT(lines.size(), 3u);
  if (lines.size() > 3) {
    // The last two znodes swapped ("/jobgraphs/7a1c" and "/leader" of the test's tree): the one
    // now last comes after a greater path.
    const std::string moved = json::parse(lines[lines.size() - 2])["path"];
    c.push_back({"zookeeper-out-of-order", honest([](auto& p) {
                   auto l = lines_of(find(p, kZkPart).data);
                   std::swap(l[l.size() - 2], l[l.size() - 1]);
                   find(p, kZkPart).data = join_lines(l);
                 }),
                 "staging source 'zk': zookeeper payload: znode " + moved +
                     " is out of order or repeated"});
    c.push_back({"zookeeper-znode-without-parent", honest([](auto& p) {
                   auto l = lines_of(find(p, kZkPart).data);
                   auto last = json::parse(l.back());
                   last["path"] = "/zzzz/orphan";
                   l.back() = last.dump();
                   find(p, kZkPart).data = join_lines(l);
                 }),
                 "staging source 'zk': zookeeper payload: znode /zzzz/orphan has no parent in the "
                 "backup"});
  }
  c.push_back({"zookeeper-bad-base64", honest([](auto& p) {
                 auto l = lines_of(find(p, kZkPart).data);
                 auto last = json::parse(l.back());
                 last["data"] = "!!not base64";
                 l.back() = last.dump();
                 find(p, kZkPart).data = join_lines(l);
               }),
               "staging source 'zk': zookeeper payload line " + std::to_string(lines.size())});
  // postgres
  c.push_back({"postgres-ddl-not-pg-dump",
               honest([](auto& p) { find(p, kPgPreData).data += "\nDROP TABLE public.users;\n"; }),
               "staging source 'jobs-db': schema/pre-data.sql holds a statement that is not "
               "pg_dump's DDL of schema 'public'"});
  c.push_back({"postgres-rows-miscounted", honest([](auto& p) {
                 auto doc = json::parse(find(p, kPgSchema).data);
                 for (auto& t : doc["tables"])
                   if (t["name"] == "users") t["rows"] = 5;
                 find(p, kPgSchema).data = doc.dump(2);
               }),
               "staging source 'jobs-db': table 'users': 5 rows listed, 2 staged"});
  c.push_back({"postgres-half-row", honest([](auto& p) { find(p, kPgUsers).data += "3\tpartial"; }),
               "staging " + kPgUsers + ": " + kPgUsers + ": a COPY part must hold whole rows"});
  c.push_back({"postgres-unknown-entry", honest([](auto& p) {
                 p.push_back({"sources/jobs-db/run-me.sh", AE_IFREG, "rm -rf /", 0755});
               }),
               "postgres source: unexpected entry sources/jobs-db/run-me.sh"});
  return c;
}

TEST(HostileCorpus, PayloadsThatNoRestoreOfTheirKindAcceptsAreRefusedByVerifyAndRestoreAlike) {
  testsupport::ZkServer zk;
  ASSERT_EQ(zk.error(), "") << "the test needs ZooKeeper";
  testsupport::PgServer pg;
  ASSERT_EQ(pg.start(), "") << "the test needs PostgreSQL";
  testsupport::sql(pg.dsn("postgres"), "CREATE DATABASE jobs");
  testsupport::sql(pg.dsn("jobs"), R"(
      CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
      INSERT INTO users (name) VALUES ('ops'), ('analyst');)");
  {
    testsupport::ZkClient c(zk.connect());
    c.create("/flink", std::nullopt);
    c.create("/flink/prod", std::nullopt);
    c.create("/flink/prod/jobgraphs", std::nullopt);
    c.create("/flink/prod/jobgraphs/7a1c", "graph");
    c.create("/flink/prod/leader", "");
  }
  Daemon::Options o;
  o.extra_metadata = {
      "{ name: zk, type: zookeeper, connect: \"" + zk.connect() + "\", root: /flink/prod }",
      "{ name: jobs-db, type: postgres, dsn: \"" + pg.dsn("jobs") + "\", schema: public }"};
  Daemon d(o);
  d.seed_cluster();
  d.set_service_state("stopped");
  const std::string good_path = d.backup();
  auto state = [&] {
    testsupport::ZkClient c(zk.connect());
    return std::tuple(
        cluster_tree(d), c.snapshot("/flink/prod"),
        testsupport::sql(pg.dsn("jobs"), "SELECT id::text, name FROM users ORDER BY 1"));
  };
  const auto before = state();
  const auto c = payload_corpus(read_entries(good_path));
  auto [verify_refused, restore_refused] = run_corpus(d, good_path, c, [&] {
    const auto now = state();
    EXPECT_EQ(describe_difference(std::get<0>(before), std::get<0>(now)), "");
    EXPECT_EQ(std::get<1>(before), std::get<1>(now));
    EXPECT_EQ(std::get<2>(before), std::get<2>(now));
  });
  const int n = static_cast<int>(c.size());
  std::printf("payload corpus: %d files, %d refused by verify, %d refused by restore\n", n,
              verify_refused, restore_refused);
  EXPECT_EQ(verify_refused, n);
  EXPECT_EQ(restore_refused, n);
  pg.stop();
}

}  // namespace
}  // namespace flinkbr::e2e
