#include "source/files/files_source.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "archive/archive_reader.h"
#include "archive/archive_writer.h"
#include "source/files/tree_payload.h"
#include "source/registry.h"
#include "source/testing/capturing_writer.h"
#include "support/tmpfs_mount.h"

namespace flinkbr::source {
namespace {

namespace fs = std::filesystem;
using archive::EntryType;
using testing::Captured;
using testing::CapturingWriter;
using testing::entry_of;
using testing::TempDir;

// ---- fixtures ----

void set_mtime(const std::string& path, int64_t mtime) {
  timespec t[2] = {{static_cast<time_t>(mtime), 0}, {static_cast<time_t>(mtime), 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), t, AT_SYMLINK_NOFOLLOW), 0) << path;
}

void put_file(const std::string& path, std::string_view content, mode_t mode, int64_t mtime) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  }
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  set_mtime(path, mtime);
}

void make_dir(const std::string& path, mode_t mode) {
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0) << path;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Snap {
  char type;  // 'd', 'f', 'l'
  uint32_t mode;
  int64_t mtime;
  std::string content;
  bool operator==(const Snap&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Snap& s) {
  return os << s.type << " " << std::oct << s.mode << std::dec << " " << s.mtime << " '"
            << s.content << "'";
}

// Everything below `root` (and the root itself as "."), as lstat sees it.
std::map<std::string, Snap> snapshot(const std::string& root) {
  std::map<std::string, Snap> out;
  auto add = [&](const std::string& rel, const std::string& abs) {
    struct stat st;
    EXPECT_EQ(::lstat(abs.c_str(), &st), 0) << abs;
    Snap s{S_ISDIR(st.st_mode)   ? 'd'
           : S_ISREG(st.st_mode) ? 'f'
                                 : 'l',
           st.st_mode & 07777u, st.st_mtim.tv_sec, S_ISREG(st.st_mode) ? slurp(abs) : ""};
    out[rel] = s;
  };
  add(".", root);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::end(it); it.increment(ec))
    add(fs::relative(it->path(), root).string(), it->path().string());
  EXPECT_FALSE(ec) << ec.message();
  return out;
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

config::SourceConfig files_config(const std::string& uri, std::string name = "conf") {
  config::SourceConfig cfg;
  cfg.name = std::move(name);
  cfg.type = "files";
  cfg.params = {{"uri", uri}};
  cfg.key_path = "clusters[0].metadata[1]";
  return cfg;
}

std::unique_ptr<MetadataSource> make_source(const std::string& dir) {
  auto s = create(files_config("file://" + dir), config::ClusterConfig{});
  EXPECT_TRUE(s) << s.error().message;
  return std::move(*s);
}

struct Logged {
  std::vector<std::string> lines;
  TaskContext ctx(std::string id = "r1-a1") {
    return TaskContext{.id = std::move(id), .staging_dir = "", .log = [this](const std::string& l) {
                         lines.push_back(l);
                       }};
  }
};

std::vector<Captured> backup_of(MetadataSource& src, Logged& log) {
  CapturingWriter w;
  archive::SourceArchiveWriter out(w, src.name());
  auto st = src.backup(out, log.ctx());
  EXPECT_TRUE(st) << st.error().message;
  return w.entries;
}

Status add(StagedRestore& staged, const Captured& c) {
  io::StringReader data(c.data);
  return staged.add(entry_of(c), data);
}

// Stages all `entries` into `src`.
std::unique_ptr<StagedRestore> stage(MetadataSource& src, const std::vector<Captured>& entries,
                                     Logged& log, std::string id = "r1-a1") {
  auto staged = src.begin_restore(log.ctx(std::move(id)));
  EXPECT_TRUE(staged) << staged.error().message;
  if (!staged) return nullptr;
  for (const auto& c : entries) {
    auto st = add(**staged, c);
    EXPECT_TRUE(st) << c.path << ": " << st.error().message;
  }
  auto st = (*staged)->finish_staging();
  EXPECT_TRUE(st) << st.error().message;
  return std::move(*staged);
}

// A live tree with the cases that matter: nested and empty directories, an empty file, odd modes,
// fixed mtimes (directories last, since creating their children changes them).
void populate(const std::string& root) {
  make_dir(root, 0750);
  make_dir(root + "/conf", 0755);
  put_file(root + "/conf/flink-conf.yaml", "jobmanager.rpc.address: jm\n", 0644, 1700000001);
  put_file(root + "/conf/secret.key", std::string("\0\x01\xff binary", 10), 0600, 1700000002);
  put_file(root + "/conf/empty", "", 0444, 1700000003);
  make_dir(root + "/empty-dir", 0700);
  make_dir(root + "/ha", 0775);
  make_dir(root + "/ha/job-1", 0755);
  put_file(root + "/ha/job-1/checkpoint", std::string(300000, 'c'), 0640, 1700000004);
  put_file(root + "/run.sh", "#!/bin/sh\n", 0755, 1700000005);
  set_mtime(root + "/ha/job-1", 1700000010);
  set_mtime(root + "/ha", 1700000011);
  set_mtime(root + "/empty-dir", 1700000012);
  set_mtime(root + "/conf", 1700000013);
  set_mtime(root, 1700000014);
}

// ---- configuration ----

TEST(FilesConfig, AcceptsAbsoluteFileUris) {
  EXPECT_TRUE(files::validate_config(files_config("file:///opt/flink/conf")));
  EXPECT_TRUE(files::validate_config(files_config("file:///opt/flink%20data/conf")));
  EXPECT_TRUE(validate_config(files_config("file:///opt/flink/conf")));
}

TEST(FilesConfig, RefusesRemoteSchemesForNow) {
  for (std::string uri : {"hdfs://hacluster/flink/ha", "s3://bucket/flink", "obs://b/k"}) {
    auto st = files::validate_config(files_config(uri));
    ASSERT_FALSE(st) << uri;
    EXPECT_EQ(st.error().code, Errc::kInvalidArgument);
    EXPECT_EQ(st.error().field, "clusters[0].metadata[1].uri");
    EXPECT_NE(st.error().message.find("only file:// URIs are supported by this build"),
              std::string::npos)
        << st.error().message;
  }
}

TEST(FilesConfig, RefusesMalformedUris) {
  for (std::string uri : {"/opt/flink/conf", "file://opt/flink", "file:///opt/../etc",
                          "file:///opt/./flink", "file:///opt//flink", "file:///opt/flink/",
                          "file:///", "file:///opt/%zz", "file:///a%00b", "file:///opt?x=1"}) {
    auto st = files::validate_config(files_config(uri));
    ASSERT_FALSE(st) << uri;
    EXPECT_EQ(st.error().field, "clusters[0].metadata[1].uri") << uri;
  }
}

TEST(FilesConfig, RefusesUnknownAndMissingKeys) {
  auto cfg = files_config("file:///opt/flink/conf");
  cfg.params["recursive"] = true;
  auto st = files::validate_config(cfg);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().field, "clusters[0].metadata[1].recursive");

  cfg.params = nlohmann::json::object();
  st = files::validate_config(cfg);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().field, "clusters[0].metadata[1].uri");

  cfg.params = {{"uri", 42}};
  EXPECT_FALSE(files::validate_config(cfg));
}

TEST(Registry, UnknownTypeIsRefusedNamingTheField) {
  auto cfg = files_config("file:///x");
  cfg.type = "nfs";
  auto st = validate_config(cfg);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(st.error().field, "clusters[0].metadata[1].type");
  EXPECT_EQ(st.error().message,
            "unknown source type 'nfs'; expected one of files, zookeeper, postgres");
  EXPECT_FALSE(create(cfg, config::ClusterConfig{}));
}

TEST(Registry, CreatesFilesSources) {
  auto s = create(files_config("file:///opt/flink/conf"), config::ClusterConfig{});
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)->name(), "conf");
  EXPECT_EQ((*s)->kind(), "files");
  EXPECT_EQ((*s)->location(), "file:///opt/flink/conf");
}

// ---- check ----

TEST(FilesSource, CheckNamesTheProblem) {
  TempDir tmp;
  auto missing = make_source(tmp / "missing");
  auto st = missing->check();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  EXPECT_NE(st.error().message.find(tmp / "missing"), std::string::npos);

  put_file(tmp / "file", "x", 0644, 1);
  st = make_source(tmp / "file")->check();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kFailedPrecondition);

  make_dir(tmp / "dir", 0755);
  EXPECT_TRUE(make_source(tmp / "dir")->check());
}

// ---- backup ----

TEST(FilesSource, BackupLayoutIsDeterministicDepthFirst) {
  TempDir tmp;
  populate(tmp / "live");
  auto src = make_source(tmp / "live");
  Logged log;
  auto entries = backup_of(*src, log);
  std::vector<std::string> paths;
  for (const auto& e : entries) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{
                       "sources/conf/tree",
                       "sources/conf/tree/conf",
                       "sources/conf/tree/conf/empty",
                       "sources/conf/tree/conf/flink-conf.yaml",
                       "sources/conf/tree/conf/secret.key",
                       "sources/conf/tree/empty-dir",
                       "sources/conf/tree/ha",
                       "sources/conf/tree/ha/job-1",
                       "sources/conf/tree/ha/job-1/checkpoint",
                       "sources/conf/tree/run.sh",
                   }));
  EXPECT_EQ(entries[0].mode, 0750u);
  EXPECT_EQ(entries[0].mtime, 1700000014);
  EXPECT_EQ(entries[6].mode, 0775u);
  EXPECT_EQ(entries[3].data, "jobmanager.rpc.address: jm\n");
  EXPECT_EQ(entries[3].mtime, 1700000001);
  EXPECT_EQ(entries[4].mode, 0600u);
  EXPECT_EQ(src->estimate_bytes(), 27u + 10u + 300000u + 10u);
  EXPECT_TRUE(log.lines.empty());
}

TEST(FilesSource, BackupSkipsLinksAndSocketsWithAWarning) {
  TempDir tmp;
  populate(tmp / "live");
  ASSERT_EQ(::symlink("conf/flink-conf.yaml", (tmp / "live/link").c_str()), 0);
  int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string sock_path = tmp / "live/conf/sock";
  ASSERT_LT(sock_path.size(), sizeof addr.sun_path);
  std::strcpy(addr.sun_path, sock_path.c_str());
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(sock);

  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  for (const auto& e : entries) {
    EXPECT_FALSE(e.path.ends_with("/link"));
    EXPECT_FALSE(e.path.ends_with("/sock"));
  }
  ASSERT_EQ(log.lines.size(), 2u);
  EXPECT_NE(log.lines[0].find("skipping socket " + sock_path), std::string::npos) << log.lines[0];
  EXPECT_NE(log.lines[1].find("skipping symbolic link " + (tmp / "live/link")), std::string::npos)
      << log.lines[1];
}

TEST(FilesSource, SetuidSetgidAndStickyBitsAreNamedInAWarning) {
  // Backup files carry permission bits only (the archive writer keeps mode & 0777): the log
  // says which entries lose a bit.
  TempDir tmp;
  populate(tmp / "live");
  ASSERT_EQ(::chmod((tmp / "live/run.sh").c_str(), 04755), 0);
  ASSERT_EQ(::chmod((tmp / "live/ha").c_str(), 02775), 0);
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  ASSERT_EQ(log.lines.size(), 2u);
  EXPECT_NE(log.lines[0].find("warning: " + (tmp / "live/ha") +
                              " has mode 2775; the backup records 0775 (setuid, setgid and "
                              "sticky bits are never restored)"),
            std::string::npos)
      << log.lines[0];
  EXPECT_NE(log.lines[1].find("warning: " + (tmp / "live/run.sh") +
                              " has mode 4755; the backup records 0755"),
            std::string::npos)
      << log.lines[1];
}

TEST(FilesSource, FileThatChangesSizeWhileReadFailsTheBackup) {
  TempDir tmp;
  populate(tmp / "live");
  // The walk reads ahead of the archive writer by at most its ring (4 MiB): a file three times
  // as big is still being read when the writer starts on it, and grows then.
  put_file(tmp / "live/ha/job-1/checkpoint", std::string(12 << 20, 'c'), 0640, 1700000004);
  auto src = make_source(tmp / "live");
  CapturingWriter w;
  w.before_read = [&](std::string_view path) {
    if (path.ends_with("checkpoint")) {
      std::ofstream(tmp / "live/ha/job-1/checkpoint", std::ios::app) << "more";
    }
  };
  archive::SourceArchiveWriter out(w, "conf");
  Logged log;
  auto st = src->backup(out, log.ctx());
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find(tmp / "live/ha/job-1/checkpoint"), std::string::npos)
      << st.error().message;
}

// ---- restore ----

TEST(FilesSource, RoundTripIsByteIdenticalWithModesAndMtimes) {
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  auto expected = snapshot(tmp / "live");

  // The target holds an older, different state: a changed file, an extra file and directory.
  populate(tmp / "target");
  put_file(tmp / "target/conf/flink-conf.yaml", "jobmanager.rpc.address: other\n", 0666,
           1800000000);
  put_file(tmp / "target/added-later.txt", "new", 0644, 1800000001);
  make_dir(tmp / "target/new-dir", 0755);
  put_file(tmp / "target/new-dir/f", "x", 0644, 1800000002);

  auto target = make_source(tmp / "target");
  auto staged = stage(*target, entries, log);
  ASSERT_TRUE(staged);
  auto committed = staged->commit();
  ASSERT_TRUE(committed) << committed.error().message;
  auto verified = staged->verify();
  EXPECT_TRUE(verified) << verified.error().message;

  EXPECT_EQ(snapshot(tmp / "target"), expected);
  EXPECT_FALSE(fs::exists(tmp / "target/added-later.txt"));
  // Nothing left beside the live tree.
  EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"live", "target"}));
}

using testsupport::TmpfsMount;

// Issue 16, point 5: a source whose directory is a mount point cannot be switched by renaming
// it. The check refuses it before anything is staged; a commit tried anyway fails and says that
// it changed nothing (so the engine does not put a safety copy back or report "damaged").
TEST(FilesSource, AMountPointIsRefusedByTheCheckAndAFailedSwitchChangesNothing) {
  TempDir tmp;
  TmpfsMount mount(tmp / "live");
  if (!mount.mounted()) GTEST_SKIP() << mount.why();
  populate(tmp / "seed");
  fs::copy(tmp / "seed", tmp / "live", fs::copy_options::recursive);
  fs::remove_all(tmp / "seed");
  Logged log;
  auto src = make_source(tmp / "live");
  auto entries = backup_of(*src, log);
  ASSERT_TRUE(src->check());
  auto refused = src->check_restorable();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(refused.error().message.find(tmp / "live" + " is a mount point"), std::string::npos)
      << refused.error().message;

  put_file(tmp / "live/conf/flink-conf.yaml", "changed since the backup\n", 0644, 1800000000);
  auto before = snapshot(tmp / "live");
  auto staged = stage(*src, entries, log);
  ASSERT_TRUE(staged);
  auto committed = staged->commit();
  ASSERT_FALSE(committed);
  EXPECT_NE(committed.error().message.find("Device or resource busy"), std::string::npos)
      << committed.error().message;
  EXPECT_TRUE(staged->failed_commit_changed_nothing());
  EXPECT_EQ(snapshot(tmp / "live"), before);
  staged.reset();
  EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"live"}));

  // A directory below the mount point restores as any other.
  make_dir(tmp / "live/data", 0755);
  EXPECT_TRUE(make_source(tmp / "live/data")->check_restorable());
  // The tree that holds the mount point is refused too (the next test says why).
  auto above = make_source(tmp.path())->check_restorable();
  ASSERT_FALSE(above);
  EXPECT_NE(above.error().message.find(tmp / "live" + " is a mount point inside the tree of "),
            std::string::npos)
      << above.error().message;
}

// Attack review of issue 16: a mount point below the source's directory (a volume of its own for
// the blob store, say) moved with the replaced tree when the switch exchanged the trees, and the
// removal of the replaced tree then deleted what the volume held; the restored tree had a plain
// directory there, on the parent's file system. The check refuses it, naming the mount point,
// before anything is staged, and the volume keeps its files.
TEST(FilesSource, AMountPointInsideTheTreeIsRefusedByTheCheckAndTheVolumeKeepsItsFiles) {
  TempDir tmp;
  populate(tmp / "live");
  make_dir(tmp / "live/blob", 0755);
  TmpfsMount mount(tmp / "live/blob");
  if (!mount.mounted()) GTEST_SKIP() << mount.why();
  put_file(tmp / "live/blob/blob_p-1", "on its own volume\n", 0644, 1700000000);
  auto before = snapshot(tmp / "live");
  auto src = make_source(tmp / "live");
  ASSERT_TRUE(src->check());
  auto refused = src->check_restorable();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(refused.error().message,
            tmp / "live/blob" + " is a mount point inside the tree of " + tmp / "live" +
                "; a restore switches the whole tree by renaming it, which would carry that file "
                "system away with the replaced tree and delete what it holds. Configure the file "
                "system below the mount point as a source of its own, and the rest apart from it");
  EXPECT_EQ(snapshot(tmp / "live"), before);
  EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"live"}));
  // The volume itself, as a source, is a mount point: refused as such (the previous test).
  EXPECT_FALSE(make_source(tmp / "live/blob")->check_restorable());
}

TEST(FilesSource, RestoreNeverSetsSetuidSetgidOrStickyBits) {
  // Entries that list them (the archive reader refuses such files; any other caller) restore
  // with their permission bits only.
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  for (auto& e : entries) {
    if (e.path.ends_with("/run.sh")) e.mode = 04777;
    if (e.path.ends_with("/ha")) e.mode = 03775;
    if (e.path == "sources/conf/tree") e.mode = 01750;
  }
  populate(tmp / "target");
  auto staged = stage(*make_source(tmp / "target"), entries, log);
  ASSERT_TRUE(staged);
  ASSERT_TRUE(staged->commit());
  EXPECT_TRUE(staged->verify());
  struct stat st {};
  ASSERT_EQ(::stat((tmp / "target/run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0777u);
  ASSERT_EQ(::stat((tmp / "target/ha").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0775u);
  ASSERT_EQ(::stat((tmp / "target").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

// As on a file system without RENAME_EXCHANGE: live -> old, staged -> live, old removed.
class TwoRenameCommit : public ::testing::Test {
 protected:
  void SetUp() override { files::use_rename_exchange_for_testing(false); }
  void TearDown() override { files::use_rename_exchange_for_testing(true); }
};

TEST_F(TwoRenameCommit, RoundTrip) {
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  populate(tmp / "target");
  put_file(tmp / "target/added-later.txt", "new", 0644, 1800000001);
  auto staged = stage(*make_source(tmp / "target"), entries, log);
  ASSERT_TRUE(staged);
  auto st = staged->commit();
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_TRUE(staged->verify());
  EXPECT_EQ(snapshot(tmp / "target"), snapshot(tmp / "live"));
  EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"live", "target"}));
}

TEST_F(TwoRenameCommit, FailedSecondRenamePutsTheLiveTreeBack) {
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  populate(tmp / "target");
  put_file(tmp / "target/added-later.txt", "new", 0644, 1800000001);
  auto before = snapshot(tmp / "target");
  auto staged = stage(*make_source(tmp / "target"), entries, log);
  ASSERT_TRUE(staged);
  fs::remove_all(tmp / ".target.flinkbr-stage-r1-a1");  // the second rename will fail
  ASSERT_FALSE(staged->commit());
  EXPECT_EQ(snapshot(tmp / "target"), before);
  EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"live", "target"}));
}

TEST_F(TwoRenameCommit, RefusesToOverwriteALeftoverOldTree) {
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  populate(tmp / "target");
  make_dir(tmp / ".target.flinkbr-old-r1-a1", 0755);
  auto staged = stage(*make_source(tmp / "target"), entries, log);
  ASSERT_TRUE(staged);
  auto st = staged->commit();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kFailedPrecondition);
}

TEST(FilesSource, CommitFailsCleanlyWhenTheStagingVanished) {
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  populate(tmp / "target");
  put_file(tmp / "target/added-later.txt", "new", 0644, 1800000001);
  auto before = snapshot(tmp / "target");
  auto staged = stage(*make_source(tmp / "target"), entries, log);
  ASSERT_TRUE(staged);
  fs::remove_all(tmp / ".target.flinkbr-stage-r1-a1");
  ASSERT_FALSE(staged->commit());
  EXPECT_EQ(snapshot(tmp / "target"), before);
}

TEST(FilesSource, DiffReportsARootModeChangeAsDot) {
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  ASSERT_EQ(::chmod((tmp / "live").c_str(), 0700), 0);
  auto staged = stage(*make_source(tmp / "live"), entries, log);
  ASSERT_TRUE(staged);
  auto d = staged->diff();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->changed.items, (std::vector<std::string>{"."}));
  EXPECT_TRUE(d->added.empty());
  EXPECT_TRUE(d->removed.empty());
}

// Through the real tar writer and reader (archive/), as the task engine drives it.
// The backup reads files ahead in pieces of 256 KiB through a ring of 4 MiB, each read one byte
// longer than what is left: files of every size around those limits, and more entries than the
// read-ahead queue holds, come back byte for byte through the real archive (whose reader
// checks every entry's SHA-256 against the manifest).
TEST(FilesSource, FilesOfEverySizeAroundTheReadAheadLimitsRoundTripThroughARealArchive) {
  TempDir tmp;
  make_dir(tmp / "live", 0755);
  make_dir(tmp / "live/sizes", 0755);
  std::string bytes;
  for (size_t i = 0; i < (9u << 20); ++i) bytes.push_back(static_cast<char>((i * 7919) >> 3));
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{262143}, size_t{262144}, size_t{262145}, size_t{524288},
        size_t{(4u << 20) - 1}, size_t{4u << 20}, size_t{(4u << 20) + 1}, size_t{(9u << 20)}})
    put_file(tmp / ("live/sizes/" + std::to_string(size)), std::string_view(bytes).substr(0, size),
             0644, 1700000000);
  make_dir(tmp / "live/many", 0755);
  for (int i = 0; i < 5000; ++i)
    put_file(tmp / ("live/many/f" + std::to_string(i)),
             std::string_view(bytes).substr(static_cast<size_t>(i), static_cast<size_t>(i % 3000)),
             0644, 1700000000);
  auto src = make_source(tmp / "live");
  Logged backup_log;
  const std::string tar = testing::backup_tar(*src, backup_log.ctx());
  ASSERT_FALSE(tar.empty());
  io::StringReader in(tar);
  auto reader = archive::ArchiveReader::open(in);
  ASSERT_TRUE(reader) << reader.error().message;
  auto target = make_source(tmp / "target");
  Logged log;
  auto staged = target->begin_restore(log.ctx());
  ASSERT_TRUE(staged);
  size_t files = 0;
  for (;;) {
    auto e = (*reader)->next();
    ASSERT_TRUE(e) << e.error().message;
    if (!*e) break;
    if ((*e)->type == archive::EntryType::kFile) ++files;
    auto st = (*staged)->add(**e, (*reader)->data());
    ASSERT_TRUE(st) << st.error().message;
  }
  EXPECT_EQ(files, 5010u);
  ASSERT_TRUE((*staged)->finish_staging());
  ASSERT_TRUE((*staged)->commit());
  auto st = (*staged)->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(snapshot(tmp / "target"), snapshot(tmp / "live"));
  EXPECT_TRUE(backup_log.lines.empty());
}

TEST(FilesSource, RoundTripThroughARealArchive) {
  TempDir tmp;
  populate(tmp / "live");
  auto src = make_source(tmp / "live");
  Logged backup_log;
  const std::string tar = testing::backup_tar(*src, backup_log.ctx());
  ASSERT_FALSE(tar.empty());
  io::StringReader in(tar);
  auto reader = archive::ArchiveReader::open(in);
  ASSERT_TRUE(reader) << reader.error().message;
  auto target = make_source(tmp / "target");
  Logged log;
  auto staged = target->begin_restore(log.ctx());
  ASSERT_TRUE(staged);
  for (;;) {
    auto e = (*reader)->next();
    ASSERT_TRUE(e) << e.error().message;
    if (!*e) break;
    ASSERT_EQ((*e)->source(), "conf");
    auto st = (*staged)->add(**e, (*reader)->data());
    ASSERT_TRUE(st) << st.error().message;
  }
  ASSERT_TRUE((*staged)->finish_staging());
  ASSERT_TRUE((*staged)->commit());
  auto st = (*staged)->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(snapshot(tmp / "target"), snapshot(tmp / "live"));
}

TEST(FilesSource, RestoreIntoAMissingDirectoryRenamesItIn) {
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  auto target = make_source(tmp / "fresh");
  auto staged = stage(*target, entries, log);
  ASSERT_TRUE(staged);
  auto d = staged->diff();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->added.count, entries.size());
  EXPECT_EQ(d->added.items.front(), ".");
  ASSERT_TRUE(staged->commit());
  ASSERT_TRUE(staged->verify());
  EXPECT_EQ(snapshot(tmp / "fresh"), snapshot(tmp / "live"));
}

TEST(FilesSource, StagesBesideTheLiveTreeAndDiffListsExactChanges) {
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);

  // Changes since the backup.
  put_file(tmp / "live/conf/flink-conf.yaml", "jobmanager.rpc.address: XX\n", 0644,
           1700000001);  // same size, mode and mtime: only the content differs
  ASSERT_EQ(::chmod((tmp / "live/run.sh").c_str(), 0700), 0);
  ASSERT_EQ(::chmod((tmp / "live/ha").c_str(), 0755), 0);
  fs::remove(tmp / "live/conf/empty");
  fs::remove(tmp / "live/empty-dir");
  put_file(tmp / "live/conf/added.yaml", "a: 1\n", 0644, 1);
  make_dir(tmp / "live/extra", 0755);
  put_file(tmp / "live/extra/x", "x", 0644, 1);
  auto before = snapshot(tmp / "live");

  auto src = make_source(tmp / "live");
  auto staged = stage(*src, entries, log);
  ASSERT_TRUE(staged);
  EXPECT_TRUE(fs::is_directory(tmp / ".live.flinkbr-stage-r1-a1"));
  auto d = staged->diff();
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->added.items, (std::vector<std::string>{"conf/empty", "empty-dir"}));
  EXPECT_EQ(d->changed.items, (std::vector<std::string>{"conf/flink-conf.yaml", "ha", "run.sh"}));
  EXPECT_EQ(d->removed.items, (std::vector<std::string>{"conf/added.yaml", "extra", "extra/x"}));
  // The comparison changed nothing.
  EXPECT_EQ(snapshot(tmp / "live"), before);

  ASSERT_TRUE(staged->commit());
  ASSERT_TRUE(staged->verify());
  d = staged->diff();
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->added.empty() && d->changed.empty() && d->removed.empty());
}

TEST(FilesSource, UncommittedRestoreLeavesTheLiveTreeAndNoLeftovers) {
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  put_file(tmp / "live/later", "later", 0644, 5);
  auto before = snapshot(tmp / "live");
  auto src = make_source(tmp / "live");
  {
    auto staged = stage(*src, entries, log);
    ASSERT_TRUE(staged);
    EXPECT_EQ(names_in(tmp.path()),
              (std::vector<std::string>{".live.flinkbr-stage-r1-a1", "live"}));
  }
  EXPECT_EQ(snapshot(tmp / "live"), before);
  EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"live"}));

  // Also when staging stops half-way.
  {
    auto staged = src->begin_restore(log.ctx("r1-a2"));
    ASSERT_TRUE(staged);
    ASSERT_TRUE(add(**staged, entries[0]));
    ASSERT_TRUE(add(**staged, entries[1]));
  }
  EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"live"}));
}

TEST(FilesSource, LeftoverStagingOfTheSameAttemptIsReplaced) {
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  make_dir(tmp / ".live.flinkbr-stage-r1-a1", 0500);
  put_file(tmp / ".live.flinkbr-stage-r1-a1/junk", "junk", 0400, 1);
  auto staged = stage(*make_source(tmp / "live"), entries, log);
  ASSERT_TRUE(staged);
  EXPECT_FALSE(fs::exists(tmp / ".live.flinkbr-stage-r1-a1/junk"));
}

TEST(FilesSource, RefusesEntriesOutsideTheTree) {
  TempDir tmp;
  populate(tmp / "live");
  auto src = make_source(tmp / "live");
  Logged log;
  auto staged = src->begin_restore(log.ctx());
  ASSERT_TRUE(staged);
  ASSERT_TRUE(add(**staged, {"sources/conf/tree", EntryType::kDirectory, 0755, 1, ""}));
  ASSERT_TRUE(add(**staged, {"sources/conf/tree/d", EntryType::kDirectory, 0755, 1, ""}));
  ASSERT_TRUE(add(**staged, {"sources/conf/tree/f", EntryType::kFile, 0644, 1, "f"}));

  auto refused = [&](const std::string& path, EntryType type = EntryType::kFile) {
    auto st = add(**staged, {path, type, 0644, 1, "x"});
    EXPECT_FALSE(st) << path;
    if (!st) {
      EXPECT_EQ(st.error().code, Errc::kCorruption) << path;
      EXPECT_NE(st.error().message.find(path), std::string::npos) << st.error().message;
    }
  };
  refused("sources/conf/tree/../x");
  refused("sources/conf/tree/d/../../x");
  refused("sources/conf/other/x");
  refused("sources/conf/treehouse");
  refused("sources/conf/tree/missing-parent/x");  // parent never staged
  refused("sources/conf/tree/f/x");               // parent is a file
  refused("sources/conf/tree/f");                 // twice
  refused("sources/conf/tree", EntryType::kDirectory);
  refused("sources/conf/tree//x");
  // Nothing escaped the staging directory.
  EXPECT_FALSE(fs::exists(tmp / "x"));
  EXPECT_FALSE(fs::exists(tmp / ".live.flinkbr-stage-r1-a1/x"));
}

TEST(FilesSource, RefusesAFileWhoseDataDoesNotMatchItsSize) {
  TempDir tmp;
  make_dir(tmp / "live", 0755);
  auto src = make_source(tmp / "live");
  Logged log;
  auto staged = src->begin_restore(log.ctx());
  ASSERT_TRUE(staged);
  ASSERT_TRUE(add(**staged, {"sources/conf/tree", EntryType::kDirectory, 0755, 1, ""}));
  archive::Entry e{.path = "sources/conf/tree/f",
                   .type = EntryType::kFile,
                   .size = 10,
                   .mode = 0644,
                   .mtime = 1};
  io::StringReader short_data("abc");
  auto st = (*staged)->add(e, short_data);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kCorruption);
}

TEST(FilesSource, PayloadWithoutRootEntryIsRefused) {
  TempDir tmp;
  make_dir(tmp / "live", 0755);
  Logged log;
  auto staged = make_source(tmp / "live")->begin_restore(log.ctx());
  ASSERT_TRUE(staged);
  auto st = (*staged)->finish_staging();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kCorruption);
}

TEST(FilesSource, VerifyCatchesChangesAfterCommit) {
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  auto staged = stage(*make_source(tmp / "target"), entries, log);
  ASSERT_TRUE(staged);
  ASSERT_TRUE(staged->commit());
  ASSERT_TRUE(staged->verify());

  // Same size, mode and mtime; other content.
  put_file(tmp / "target/conf/flink-conf.yaml", "jobmanager.rpc.address: XX\n", 0644, 1700000001);
  auto st = staged->verify();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kCorruption);
  EXPECT_NE(st.error().message.find("conf/flink-conf.yaml"), std::string::npos)
      << st.error().message;
  put_file(tmp / "target/conf/flink-conf.yaml", "jobmanager.rpc.address: jm\n", 0644, 1700000001);
  ASSERT_TRUE(staged->verify());

  put_file(tmp / "target/extra", "", 0644, 1);
  st = staged->verify();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("extra"), std::string::npos) << st.error().message;
  fs::remove(tmp / "target/extra");

  fs::remove(tmp / "target/empty-dir");
  st = staged->verify();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("empty-dir: missing"), std::string::npos) << st.error().message;
  make_dir(tmp / "target/empty-dir", 0700);
  ASSERT_TRUE(staged->verify());

  ASSERT_EQ(::chmod((tmp / "target/run.sh").c_str(), 0777), 0);
  st = staged->verify();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("run.sh: mode 0777, expected 0755"), std::string::npos)
      << st.error().message;
}

// The verification after a restore does not read the files it staged a second time: those that
// are still the inodes it wrote and hashed, unchanged since (ctime), are taken as verified; a
// file changed after the staging is hashed again, and a change of its content is caught.
TEST(FilesSource, VerifyHashesAgainOnlyFilesChangedSinceTheStaging) {
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  auto staged = make_source(tmp / "target")->begin_restore(log.ctx());
  ASSERT_TRUE(staged) << staged.error().message;
  for (const auto& c : entries) ASSERT_TRUE(add(**staged, c)) << c.path;
  // File timestamps advance in ticks of a few ms; files staged in the staging's last tick are
  // hashed again by design, so let a tick pass before the staging ends.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE((*staged)->finish_staging());
  ASSERT_TRUE((*staged)->commit());
  auto rehashed = [&] {
    std::string found;
    for (const auto& l : log.lines)
      if (l.find("hashed again") != std::string::npos) found = l;
    log.lines.clear();
    return found;
  };
  rehashed();
  ASSERT_TRUE((*staged)->verify());
  EXPECT_EQ(rehashed(), "");

  // The same bytes written again: another ctime, so hashed again, and still the backup's.
  put_file(tmp / "target/conf/flink-conf.yaml", "jobmanager.rpc.address: jm\n", 0644, 1700000001);
  ASSERT_TRUE((*staged)->verify());
  EXPECT_NE(rehashed().find(": 1 files hashed again"), std::string::npos);

  // Other bytes of the same size, mode and mtime: caught.
  put_file(tmp / "target/conf/flink-conf.yaml", "jobmanager.rpc.address: XX\n", 0644, 1700000001);
  auto st = (*staged)->verify();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("conf/flink-conf.yaml: content differs from the backup"),
            std::string::npos)
      << st.error().message;
}

TEST(FilesSource, CleanupAfterCrashPutsTheOldTreeBack) {
  TempDir tmp;
  populate(tmp / "old-state");
  auto expected = snapshot(tmp / "old-state");
  // A crash between the two renames: live missing, old and stage present.
  fs::rename(tmp / "old-state", tmp / ".live.flinkbr-old-r7-a1");
  make_dir(tmp / ".live.flinkbr-stage-r7-a1", 0555);
  put_file(tmp / ".live.flinkbr-stage-r7-a1/f", "staged", 0400, 1);

  auto src = make_source(tmp / "live");
  auto st = src->cleanup_after_crash("r7-a1");
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"live"}));
  EXPECT_EQ(snapshot(tmp / "live"), expected);

  // Live present: the old tree is garbage.
  populate(tmp / ".live.flinkbr-old-r7-a2");
  ASSERT_TRUE(src->cleanup_after_crash("r7-a2"));
  EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"live"}));
  EXPECT_EQ(snapshot(tmp / "live"), expected);

  // Nothing to do.
  EXPECT_TRUE(src->cleanup_after_crash("r7-a3"));
  // Ids that could escape are refused.
  EXPECT_FALSE(src->cleanup_after_crash("../x"));
  EXPECT_FALSE(src->cleanup_after_crash(""));
}

// ---- order of the entries, bounded memory ----

// Stages `entries` and returns the first refusal (the test fails when all are staged).
Error first_refusal(MetadataSource& src, const std::vector<Captured>& entries, Logged& log) {
  auto staged = src.begin_restore(log.ctx());
  EXPECT_TRUE(staged) << staged.error().message;
  if (!staged) return {};
  for (const auto& c : entries)
    if (auto st = add(**staged, c); !st) return st.error();
  if (auto st = (*staged)->finish_staging(); !st) return st.error();
  ADD_FAILURE() << "every entry was staged";
  return {};
}

TEST(FilesSource, BackupWritesTreeOrderWithEachDirectoryFollowedByItsContents) {
  TempDir tmp;
  make_dir(tmp / "live", 0755);
  make_dir(tmp / "live/a", 0755);
  put_file(tmp / "live/a/b", "b", 0644, 1);
  put_file(tmp / "live/a-c", "c", 0644, 1);
  put_file(tmp / "live/a.d", "d", 0644, 1);
  put_file(tmp / "live/B", "B", 0644, 1);
  Logged log;
  std::vector<std::string> paths;
  for (const auto& e : backup_of(*make_source(tmp / "live"), log)) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"sources/conf/tree", "sources/conf/tree/B",
                                             "sources/conf/tree/a", "sources/conf/tree/a/b",
                                             "sources/conf/tree/a-c", "sources/conf/tree/a.d"}));
  EXPECT_TRUE(files::tree_order_less("a/b", "a-c"));
  EXPECT_TRUE(files::tree_order_less("a", "a/b"));
  EXPECT_FALSE(files::tree_order_less("a/b", "a/b"));
  EXPECT_TRUE(files::tree_order_less("a/\xc3\xa9", "ab"));
}

// A pointer's path comes from a znode that whoever can write the HA tree controls: the pin
// follows no link on the way (a directory link in the HA storage pointing out of it, a link to
// /dev/zero), and a path it cannot pin (a file used as a directory, a NUL, a name too long) is a
// precondition the capture tolerates, never the copy of a file outside the source.
TEST(FilesSource, APinFollowsNoLinkAndRefusesWhatItCannotPinAsAPrecondition) {
  TempDir tmp;
  make_dir(tmp / "live", 0755);
  make_dir(tmp / "outside", 0755);
  put_file(tmp / "outside/secret", "secret", 0600, 100);
  put_file(tmp / "live/plain", "x", 0644, 100);
  fs::create_directory_symlink(tmp / "outside", tmp / "live/escape");
  fs::create_symlink(tmp / "outside/secret", tmp / "live/link");
  auto src = make_source(tmp / "live");
  Logged log;
  auto ctx = log.ctx("b1");
  const std::vector<std::string> unpinnable = {
      "escape/secret",      "link", "plain/sub", std::string("a\0b", 3), std::string(5000, 'a'),
      std::string(300, 'b')};  // a name longer than NAME_MAX
  for (const std::string& rel : unpinnable) {
    auto pinned = src->pin(rel, ctx);
    ASSERT_FALSE(pinned) << rel;
    EXPECT_EQ(pinned.error().code, Errc::kFailedPrecondition)
        << rel << ": " << pinned.error().message;
  }
  auto entries = backup_of(*src, log);
  for (const auto& e : entries) EXPECT_EQ(e.data.find("secret"), std::string::npos) << e.path;
}

// The Flink-aware capture pins a checkpoint file the moment it reads its pointer; Flink may
// delete the file (subsumption) before the walk reaches it. The backup still holds the pinned
// bytes, in tree order, with the directories it needs, also when those vanished too.
TEST(FilesSource, PinnedFilesAreBackedUpInTreeOrderEvenAfterTheyWereDeleted) {
  TempDir tmp;
  make_dir(tmp / "live", 0755);
  make_dir(tmp / "live/prod", 0750);
  make_dir(tmp / "live/gone", 0755);
  put_file(tmp / "live/prod/completedCheckpoint1", "one", 0640, 100);
  put_file(tmp / "live/prod/completedCheckpoint2", "two", 0640, 200);
  put_file(tmp / "live/gone/submittedJobGraph9", "graph", 0600, 300);
  put_file(tmp / "live/z", "z", 0644, 1);
  auto src = make_source(tmp / "live");
  Logged log;
  auto ctx = log.ctx("b1");
  ASSERT_EQ(src->pin("prod/completedCheckpoint1", ctx).value_or(0), 3u);
  ASSERT_EQ(src->pin("gone/submittedJobGraph9", ctx).value_or(0), 5u);
  EXPECT_EQ(src->pin("prod/completedCheckpoint1", ctx).value_or(0), 3u);  // once per path
  auto missing = src->pin("prod/completedCheckpoint7", ctx);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  // A path that cannot be pinned is a precondition (the capture keeps the pointer and the
  // backup names it dangling), not an error that fails the backup.
  auto climbing = src->pin("../outside", ctx);
  ASSERT_FALSE(climbing);
  EXPECT_EQ(climbing.error().code, Errc::kFailedPrecondition);

  // Subsumed: deleted after the pin. A whole directory vanishes too.
  fs::remove(tmp / "live/prod/completedCheckpoint1");
  fs::remove_all(tmp / "live/gone");
  auto entries = backup_of(*src, log);
  std::vector<std::string> paths;
  std::map<std::string, std::string> data;
  for (const auto& e : entries) {
    paths.push_back(e.path);
    data[e.path] = e.data;
  }
  EXPECT_EQ(paths, (std::vector<std::string>{
                       "sources/conf/tree", "sources/conf/tree/gone",
                       "sources/conf/tree/gone/submittedJobGraph9", "sources/conf/tree/prod",
                       "sources/conf/tree/prod/completedCheckpoint1",
                       "sources/conf/tree/prod/completedCheckpoint2", "sources/conf/tree/z"}));
  EXPECT_EQ(data["sources/conf/tree/prod/completedCheckpoint1"], "one");
  EXPECT_EQ(data["sources/conf/tree/gone/submittedJobGraph9"], "graph");
  for (const auto& e : entries)
    if (e.path == "sources/conf/tree/prod/completedCheckpoint1") {
      EXPECT_EQ(e.mode, 0640u);
      EXPECT_EQ(e.mtime, 100);
    }
  // The backup restores: parents come before their files.
  TempDir out;
  make_dir(out / "restored", 0755);
  auto target = make_source(out / "restored");
  auto staged = stage(*target, entries, log);
  ASSERT_TRUE(staged);
  ASSERT_TRUE(staged->commit());
  EXPECT_EQ(slurp(out / "restored/gone/submittedJobGraph9"), "graph");
  EXPECT_EQ(slurp(out / "restored/prod/completedCheckpoint1"), "one");
}

TEST(FilesSource, RefusesEntriesBeforeTheirParentTwiceOrWithoutParentAndChangesNothing) {
  TempDir tmp;
  populate(tmp / "live");
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  populate(tmp / "target");
  auto before = snapshot(tmp / "target");
  auto target = make_source(tmp / "target");
  auto index_of = [&](const std::string& path) {
    return std::find_if(entries.begin(), entries.end(),
                        [&](const Captured& c) { return c.path == path; }) -
           entries.begin();
  };
  const std::string job = "sources/conf/tree/ha/job-1";
  const std::string checkpoint = job + "/checkpoint";

  // A child before its parent directory.
  auto swapped = entries;
  std::swap(swapped[index_of(job)], swapped[index_of(checkpoint)]);
  // The same file twice, right after itself and later.
  auto twice = entries;
  twice.insert(twice.begin() + index_of(checkpoint) + 1, entries[index_of(checkpoint)]);
  auto twice_later = entries;
  twice_later.push_back(entries[index_of("sources/conf/tree/conf")]);
  // A file whose parent directory is missing, and one whose parent is a file.
  auto orphan = entries;
  orphan.erase(orphan.begin() + index_of(job));
  auto under_file = entries;
  under_file.push_back({"sources/conf/tree/run.sh/x", EntryType::kFile, 0644, 1, "x"});

  struct Case {
    std::vector<Captured> entries;
    std::string path, why;
  };
  for (const auto& c : std::vector<Case>{
           {swapped, checkpoint, "comes before its parent directory"},
           {twice, checkpoint, "appears twice"},
           {twice_later, "sources/conf/tree/conf", "appears twice"},
           {orphan, checkpoint, "comes before its parent directory"},
           {under_file, "sources/conf/tree/run.sh/x", "its parent is not a directory"}}) {
    Error e = first_refusal(*target, c.entries, log);
    EXPECT_EQ(e.code, Errc::kCorruption) << c.path;
    EXPECT_NE(e.message.find("entry '" + c.path + "' "), std::string::npos) << e.message;
    EXPECT_NE(e.message.find(c.why), std::string::npos) << e.message;
    EXPECT_EQ(snapshot(tmp / "target"), before) << c.path;
    EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"live", "target"})) << c.path;
  }
}

// Backups of remote trees written before tree order hold their entries in plain byte order
// ("a-c" before "a/b"); any order with parents first still restores exactly, read-only
// directories included.
TEST(FilesSource, RestoresEntriesInAnotherOrderWithParentsFirst) {
  TempDir tmp;
  make_dir(tmp / "live", 0755);
  make_dir(tmp / "live/a", 0755);
  make_dir(tmp / "live/a/sub", 0755);
  put_file(tmp / "live/a/sub/f", "f", 0444, 3);
  put_file(tmp / "live/a/b", "b", 0644, 4);
  put_file(tmp / "live/a-c", "c", 0644, 5);
  put_file(tmp / "live/a.d", "d", 0600, 6);
  ASSERT_EQ(::chmod((tmp / "live/a/sub").c_str(), 0555), 0);
  ASSERT_EQ(::chmod((tmp / "live/a").c_str(), 0500), 0);
  set_mtime(tmp / "live/a/sub", 7);
  set_mtime(tmp / "live/a", 8);
  set_mtime(tmp / "live", 9);
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  auto expected = snapshot(tmp / "live");

  auto byte_order = entries;
  std::sort(byte_order.begin(), byte_order.end(),
            [](const Captured& a, const Captured& b) { return a.path < b.path; });
  ASSERT_NE(byte_order[2].path, entries[2].path);  // the orders differ here
  // Parents first, otherwise reversed: the last sibling first.
  auto reversed = entries;
  std::stable_sort(reversed.begin() + 1, reversed.end(), [](const Captured& a, const Captured& b) {
    return std::count(a.path.begin(), a.path.end(), '/') <
           std::count(b.path.begin(), b.path.end(), '/');
  });
  std::reverse(reversed.begin() + 1, reversed.begin() + 4);

  for (const auto* order : {&byte_order, &reversed}) {
    TempDir out;
    auto target = make_source(out / "target");
    auto staged = stage(*target, *order, log);
    ASSERT_TRUE(staged);
    auto d = staged->diff();
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->added.count, entries.size());
    EXPECT_EQ(d->added.items,
              (std::vector<std::string>{".", "a", "a/b", "a/sub", "a/sub/f", "a-c", "a.d"}));
    ASSERT_TRUE(staged->commit());
    auto st = staged->verify();
    EXPECT_TRUE(st) << st.error().message;
    EXPECT_EQ(snapshot(out / "target"), expected);
    ASSERT_EQ(::chmod((out / "target/a").c_str(), 0700), 0);  // so that TempDir can remove it
  }
  ASSERT_EQ(::chmod((tmp / "live/a").c_str(), 0700), 0);
}

TEST(FilesSource, ReadOnlyDirectoriesWithChildrenRestore) {
  TempDir tmp;
  make_dir(tmp / "live", 0755);
  make_dir(tmp / "live/ro", 0755);
  make_dir(tmp / "live/ro/inner", 0755);
  put_file(tmp / "live/ro/inner/f", "inner", 0400, 11);
  put_file(tmp / "live/ro/g", "g", 0444, 12);
  ASSERT_EQ(::chmod((tmp / "live/ro/inner").c_str(), 0500), 0);
  ASSERT_EQ(::chmod((tmp / "live/ro").c_str(), 0555), 0);
  set_mtime(tmp / "live/ro/inner", 13);
  set_mtime(tmp / "live/ro", 14);
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  auto staged = stage(*make_source(tmp / "target"), entries, log);
  ASSERT_TRUE(staged);
  ASSERT_TRUE(staged->commit());
  auto st = staged->verify();
  EXPECT_TRUE(st) << st.error().message;
  EXPECT_EQ(snapshot(tmp / "target"), snapshot(tmp / "live"));
  for (auto dir : {"live/ro", "live/ro/inner", "target/ro", "target/ro/inner"})
    ASSERT_EQ(::chmod((tmp / dir).c_str(), 0700), 0);
}

TEST(FilesSource, DeepTreeRoundTrip) {
  TempDir tmp;
  make_dir(tmp / "live", 0755);
  std::string dir = tmp / "live";
  for (int depth = 0; depth < 300; ++depth) {
    dir += "/d";
    make_dir(dir, 0750);
    put_file(dir + "-f", "level " + std::to_string(depth), 0640, depth);
  }
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  ASSERT_EQ(entries.size(), 601u);
  auto staged = stage(*make_source(tmp / "target"), entries, log);
  ASSERT_TRUE(staged);
  ASSERT_TRUE(staged->commit());
  auto st = staged->verify();
  EXPECT_TRUE(st) << st.error().message;
  EXPECT_EQ(snapshot(tmp / "target"), snapshot(tmp / "live"));
}

TEST(FilesSource, DiffListsAreCappedWithCompleteCounts) {
  TempDir tmp;
  make_dir(tmp / "live", 0755);
  make_dir(tmp / "live/backed-up", 0755);
  for (int i = 0; i < 1500; ++i)
    put_file(tmp / ("live/backed-up/" + std::to_string(10000 + i)), "x", 0644, 1);
  put_file(tmp / "live/changed", "old", 0644, 1);
  Logged log;
  auto entries = backup_of(*make_source(tmp / "live"), log);
  fs::remove_all(tmp / "live/backed-up");
  put_file(tmp / "live/changed", "new", 0644, 1);
  make_dir(tmp / "live/later", 0755);
  for (int i = 0; i < 1200; ++i)
    put_file(tmp / ("live/later/" + std::to_string(10000 + i)), "y", 0644, 1);

  auto staged = stage(*make_source(tmp / "live"), entries, log);
  ASSERT_TRUE(staged);
  auto d = staged->diff();
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->added.count, 1501u);
  ASSERT_EQ(d->added.items.size(), kDiffListLimit);
  EXPECT_TRUE(d->added.truncated());
  EXPECT_EQ(d->added.items[0], "backed-up");
  EXPECT_EQ(d->added.items[1], "backed-up/10000");
  EXPECT_EQ(d->added.items.back(), "backed-up/10998");
  EXPECT_EQ(d->removed.count, 1201u);
  ASSERT_EQ(d->removed.items.size(), kDiffListLimit);
  EXPECT_EQ(d->removed.items.back(), "later/10998");
  EXPECT_EQ(d->changed.count, 1u);
  EXPECT_EQ(d->changed.items, std::vector<std::string>{"changed"});
  EXPECT_FALSE(d->changed.truncated());
}

}  // namespace
}  // namespace flinkbr::source
