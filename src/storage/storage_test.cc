// The storage contract: one suite that every driver must pass. It runs against each entry of
// drivers() below; a driver that needs a server (WebHDFS, S3/OBS) adds its entry there and returns
// a null Storage from make_storage when its server is not configured, which skips the suite for
// it. Driver-specific tests follow the contract suite.
#include "storage/storage.h"

#include <gtest/gtest.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>

#include "../../tests/servers/webhdfs/webhdfs_fixture.h"
#include "common/domain.h"
#include "storage/hdfs/hdfs_driver.h"
#include "storage/local/local_driver.h"
#include "storage/open.h"
#include "storage/s3/s3rver_fixture.h"

namespace flinkbr::storage {
namespace {

namespace fs = std::filesystem;

struct DriverCase {
  std::string name;
  // A Storage on the backend, or nullptr when the backend is not available here (skips).
  std::function<std::unique_ptr<Storage>()> make_storage;
  // A fresh empty root in the driver's path form (without a trailing '/'), and its removal.
  std::function<std::string()> make_root;
  std::function<void(const std::string&)> remove_root;
  // Backends with real directories refuse a write into a missing one when create_parents is
  // false; object stores have no directories to miss.
  bool has_directories = true;
  // Whether free_space() must give a number.
  bool reports_free_space = false;
};

DriverCase local_case() {
  return DriverCase{
      .name = "LocalDir",
      .make_storage = [] { return std::make_unique<Storage>(make_local_driver()); },
      .make_root =
          [] {
            std::string pattern = (fs::temp_directory_path() / "flinkbr-storage-XXXXXX").string();
            if (!mkdtemp(pattern.data())) return std::string();
            return pattern;
          },
      .remove_root =
          [](const std::string& root) {
            std::error_code ec;
            fs::remove_all(root, ec);
          },
      .has_directories = true,
      .reports_free_space = true,
  };
}

// OBS against a real @20minutes/s3rver started by the test process (s3/s3rver_fixture.h). A
// server that cannot be started fails the test with the reason (no silent skip). Small parts and
// read chunks so that the contract runs through multipart uploads and resumed ranged reads.
DriverCase s3_case() {
  return DriverCase{
      .name = "OBS",
      .make_storage = []() -> std::unique_ptr<Storage> {
        auto& server = testing::S3rver::instance();
        if (!server.error().empty()) {
          ADD_FAILURE() << server.error();
          return nullptr;
        }
        S3Options o = server.options();
        o.part_size = 1 << 20;
        o.read_chunk = 1 << 20;
        auto d = make_s3_driver(o);
        if (!d) {
          ADD_FAILURE() << d.error().message;
          return nullptr;
        }
        return std::make_unique<Storage>(std::move(*d));
      },
      .make_root =
          [] {
            std::random_device rd;
            char buf[32];
            std::snprintf(buf, sizeof buf, "c-%08x%08x", rd(), rd());
            return std::string(testing::S3rver::kBucket) + "/" + buf;
          },
      .remove_root = [](const std::string&) {},  // each root is new; the server's dir goes at exit
      .has_directories = false,
      .reports_free_space = false,
  };
}

// LocalHDFS/RemoteHDFS against the WebHDFS test server (one per test process, an HA pair with
// the first NameNode standby), as the superuser. Small chunks, so that the contract runs through
// CREATE + APPENDs and several OPEN ranges.
DriverCase hdfs_case() {
  static auto server = [] {
    return std::make_unique<flinkbr::testing::WebHdfsServer>(
        flinkbr::testing::WebHdfsOptions{.namenodes = 2, .standby = {0}});
  };
  static std::unique_ptr<flinkbr::testing::WebHdfsServer> instance;
  auto get = [] {
    if (!instance) instance = server();
    return instance.get();
  };
  return DriverCase{
      .name = "HDFS",
      .make_storage = [get]() -> std::unique_ptr<Storage> {
        flinkbr::testing::WebHdfsServer* srv = get();
        if (!srv->error().empty()) {
          ADD_FAILURE() << srv->error();
          return nullptr;
        }
        HdfsDriverOptions o;
        for (int i = 0; i < srv->namenode_count(); ++i)
          o.client.namenodes.push_back("http://" + srv->namenode_address(i));
        o.client.nameservice = "hacluster";
        o.client.user = "hdfs";
        o.read_chunk = 256 * 1024;
        o.write_chunk = 300 * 1024;
        auto d = make_hdfs_driver(o);
        if (!d) {
          ADD_FAILURE() << d.error().message;
          return nullptr;
        }
        return std::make_unique<Storage>(std::move(*d));
      },
      .make_root =
          [get] {
            std::random_device rd;
            char buf[32];
            std::snprintf(buf, sizeof buf, "c-%08x%08x", rd(), rd());
            std::error_code ec;
            fs::create_directories(get()->root_dir() / buf, ec);
            return "/" + std::string(buf);
          },
      .remove_root = [](const std::string&) {},  // the server's directory goes at exit
      .has_directories = true,
      .reports_free_space = false,
  };
}

// The one list of drivers the contract runs against.
std::vector<DriverCase> drivers() {
  return {local_case(), s3_case(), hdfs_case()};
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string base_name(const std::string& path) {
  return path.substr(path.find_last_of('/') + 1);
}

class StorageContractTest : public ::testing::TestWithParam<DriverCase> {
 protected:
  void SetUp() override {
    storage_ = GetParam().make_storage();
    if (!storage_) GTEST_SKIP() << GetParam().name << " is not available here";
    root_ = GetParam().make_root();
    ASSERT_FALSE(root_.empty());
  }
  void TearDown() override {
    if (!root_.empty()) GetParam().remove_root(root_);
  }

  std::string at(std::string_view rel) const { return root_ + "/" + std::string(rel); }

  // Writes data in uneven pieces and commits.
  Status put(const std::string& path, std::string_view data, WriteOptions options = {}) {
    auto w = TRY(storage_->open_write(path, options));
    size_t pos = 0, step = 1000;
    while (pos < data.size()) {
      size_t n = std::min(step, data.size() - pos);
      TRY(w->write(io::as_bytes(data.substr(pos, n))));
      pos += n;
      step = step * 2 + 13;
    }
    return w->finish();
  }

  Result<std::string> get(const std::string& path) {
    auto r = TRY(storage_->open_read(path));
    return io::read_all(*r, size_t{1} << 30);
  }

  // Names of the direct children of dir, sorted; an empty list when dir does not exist.
  std::vector<std::string> names(const std::string& dir) {
    std::vector<std::string> out;
    auto l = storage_->list(dir);
    if (!l) {
      EXPECT_EQ(l.error().code, Errc::kNotFound) << l.error().message;
      return out;
    }
    for (const auto& f : *l) out.push_back(base_name(f.path));
    std::sort(out.begin(), out.end());
    return out;
  }

  std::unique_ptr<Storage> storage_;
  std::string root_;
};

TEST_P(StorageContractTest, WriteReadRoundTrip) {
  for (const auto& [name, data] : std::vector<std::pair<std::string, std::string>>{
           {"empty", ""},
           {"small", "hello, storage"},
           {"big", random_bytes(5 * 1024 * 1024 + 7, 1)}}) {
    auto st = put(at(name), data);
    ASSERT_TRUE(st) << name << ": " << st.error().message;
    auto back = get(at(name));
    ASSERT_TRUE(back) << name << ": " << back.error().message;
    EXPECT_EQ(back->size(), data.size()) << name;
    EXPECT_TRUE(*back == data) << name;
  }
}

TEST_P(StorageContractTest, WriteIsAtomic) {
  auto w = storage_->open_write(at("f"));
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE((*w)->write(io::as_bytes(random_bytes(300000, 2))));
  // Before finish() the final name does not exist.
  auto st = storage_->stat(at("f"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  ASSERT_TRUE((*w)->finish());
  st = storage_->stat(at("f"));
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(st->size, 300000u);
  EXPECT_EQ(names(root_), std::vector<std::string>{"f"});  // no temporary left behind
}

TEST_P(StorageContractTest, UnfinishedWriterLeavesNothing) {
  {
    auto w = storage_->open_write(at("d/f"), {.create_parents = true});
    ASSERT_TRUE(w) << w.error().message;
    ASSERT_TRUE((*w)->write(io::as_bytes(random_bytes(100000, 3))));
  }
  auto st = storage_->stat(at("d/f"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  EXPECT_TRUE(names(at("d")).empty());
}

// What a daemon killed in the middle of a write leaves beside the file is found by its name and
// removed; nothing else is touched. (Object stores leave no named temporary: an unfinished
// multipart upload has no key.)
TEST_P(StorageContractTest, LeftoversOfAnInterruptedWriterAreRemoved) {
  ASSERT_TRUE(put(at("other"), "kept"));
  ASSERT_TRUE(put(at(".f.keep"), "kept too"));  // starts like a temporary of "f", is none
  ASSERT_TRUE(put(at("f.tmp-0123456789abcdef"), "kept as well"));
  auto w = storage_->open_write(at("f"));
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE((*w)->write(io::as_bytes(random_bytes(1024 * 1024, 4))));
  // A killed process runs no destructor: the writer is abandoned, not destroyed.
  [[maybe_unused]] io::Writer* killed = w->release();
#if defined(__SANITIZE_ADDRESS__)
  __lsan_ignore_object(killed);
#endif
  const size_t before = names(root_).size();
  auto removed = storage_->remove_leftovers_of(at("f"));
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(*removed, GetParam().has_directories ? 1 : 0);
  EXPECT_EQ(before, GetParam().has_directories ? 4u : 3u);
  EXPECT_EQ(names(root_), (std::vector<std::string>{".f.keep", "f.tmp-0123456789abcdef", "other"}));
  // A directory that does not exist holds no leftovers.
  auto none = storage_->remove_leftovers_of(at("missing/f"));
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_EQ(*none, 0);
}

TEST_P(StorageContractTest, OverwriteFalseRefusesAnExistingFile) {
  ASSERT_TRUE(put(at("f"), "first"));
  auto st = put(at("f"), "second", {.overwrite = false});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kAlreadyExists) << st.error().message;
  EXPECT_EQ(get(at("f")).value_or(""), "first");
  EXPECT_EQ(names(root_), std::vector<std::string>{"f"});
}

TEST_P(StorageContractTest, OverwriteFalseLosesARaceCleanly) {
  auto w1 = storage_->open_write(at("f"));
  auto w2 = storage_->open_write(at("f"));
  ASSERT_TRUE(w1 && w2);
  ASSERT_TRUE((*w1)->write(io::as_bytes("one")));
  ASSERT_TRUE((*w2)->write(io::as_bytes("two")));
  ASSERT_TRUE((*w1)->finish());
  auto st = (*w2)->finish();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kAlreadyExists) << st.error().message;
  w2->reset();
  EXPECT_EQ(get(at("f")).value_or(""), "one");
  EXPECT_EQ(names(root_), std::vector<std::string>{"f"});
}

TEST_P(StorageContractTest, OverwriteTrueReplaces) {
  ASSERT_TRUE(put(at("f"), "first"));
  ASSERT_TRUE(put(at("f"), "second", {.overwrite = true}));
  EXPECT_EQ(get(at("f")).value_or(""), "second");
  EXPECT_EQ(names(root_), std::vector<std::string>{"f"});
}

TEST_P(StorageContractTest, CreateParents) {
  ASSERT_TRUE(put(at("a/b/c/f"), "deep", {.create_parents = true}));
  EXPECT_EQ(get(at("a/b/c/f")).value_or(""), "deep");
  if (GetParam().has_directories) {
    auto st = put(at("x/y/f"), "nope", {.create_parents = false});
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::kNotFound) << st.error().message;
    EXPECT_FALSE(storage_->exists(at("x")).value_or(true));
  }
}

TEST_P(StorageContractTest, Stat) {
  int64_t before = now_seconds();
  ASSERT_TRUE(put(at("dir/f"), "12345"));
  auto f = storage_->stat(at("dir/f"));
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->path, at("dir/f"));
  EXPECT_FALSE(f->is_dir);
  EXPECT_EQ(f->size, 5u);
  EXPECT_GE(f->mtime, before - 300);
  EXPECT_LE(f->mtime, now_seconds() + 300);
  if (GetParam().has_directories) {
    auto d = storage_->stat(at("dir"));
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_TRUE(d->is_dir);
  }
  auto missing = storage_->stat(at("missing"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_NE(missing.error().message.find(at("missing")), std::string::npos)
      << missing.error().message;
}

TEST_P(StorageContractTest, List) {
  ASSERT_TRUE(put(at("l/a"), "a"));
  ASSERT_TRUE(put(at("l/b"), "bb"));
  ASSERT_TRUE(put(at("l/sub/c"), "ccc"));
  auto l = storage_->list(at("l"));
  ASSERT_TRUE(l) << l.error().message;
  std::sort(l->begin(), l->end(), [](auto& x, auto& y) { return x.path < y.path; });
  ASSERT_EQ(l->size(), 3u);
  EXPECT_EQ((*l)[0].path, at("l/a"));
  EXPECT_EQ((*l)[0].size, 1u);
  EXPECT_FALSE((*l)[0].is_dir);
  EXPECT_EQ((*l)[1].path, at("l/b"));
  EXPECT_EQ((*l)[1].size, 2u);
  EXPECT_EQ((*l)[2].path, at("l/sub"));
  EXPECT_TRUE((*l)[2].is_dir);

  auto missing = storage_->list(at("nothing"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_NE(missing.error().message.find(at("nothing")), std::string::npos)
      << missing.error().message;
}

TEST_P(StorageContractTest, Remove) {
  ASSERT_TRUE(put(at("r/f"), "x"));
  ASSERT_TRUE(storage_->remove(at("r/f")));
  EXPECT_FALSE(storage_->exists(at("r/f")).value_or(true));
  auto again = storage_->remove(at("r/f"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kNotFound);
  EXPECT_NE(again.error().message.find(at("r/f")), std::string::npos) << again.error().message;
  EXPECT_TRUE(storage_->remove_if_exists(at("r/f")));
  if (GetParam().has_directories) {
    ASSERT_TRUE(storage_->remove(at("r")));  // now empty
    EXPECT_FALSE(storage_->exists(at("r")).value_or(true));
  }
}

TEST_P(StorageContractTest, Rename) {
  ASSERT_TRUE(put(at("from"), "payload"));
  ASSERT_TRUE(put(at("taken"), "other"));
  ASSERT_TRUE(storage_->rename(at("from"), at("to")));
  EXPECT_EQ(get(at("to")).value_or(""), "payload");
  EXPECT_FALSE(storage_->exists(at("from")).value_or(true));

  auto clash = storage_->rename(at("to"), at("taken"));
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, Errc::kAlreadyExists) << clash.error().message;
  EXPECT_EQ(get(at("to")).value_or(""), "payload");
  EXPECT_EQ(get(at("taken")).value_or(""), "other");

  auto missing = storage_->rename(at("ghost"), at("x"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_NE(missing.error().message.find(at("ghost")), std::string::npos)
      << missing.error().message;
}

TEST_P(StorageContractTest, RemoveTreeRemovesEverythingBelow) {
  ASSERT_TRUE(put(at("t/a"), "1"));
  ASSERT_TRUE(put(at("t/sub/b"), "2"));
  ASSERT_TRUE(put(at("t/sub/deeper/c"), "3"));
  ASSERT_TRUE(put(at("keep"), "4"));
  ASSERT_TRUE(storage_->remove_tree(at("t"))) << "remove_tree";
  EXPECT_EQ(names(root_), std::vector<std::string>{"keep"});
  auto again = storage_->remove_tree(at("t"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kNotFound) << again.error().message;
  // A single file goes too.
  ASSERT_TRUE(storage_->remove_tree(at("keep")));
  EXPECT_EQ(names(root_), std::vector<std::string>{});
}

TEST_P(StorageContractTest, ListRecursiveGivesEveryFileBelow) {
  ASSERT_TRUE(put(at("r/a"), "1"));
  ASSERT_TRUE(put(at("r/sub/b"), "22"));
  ASSERT_TRUE(put(at("r/sub/deeper/c"), "333"));
  ASSERT_TRUE(put(at("other"), "4"));
  auto all = storage_->list_recursive(at("r"));
  ASSERT_TRUE(all) << all.error().message;
  std::map<std::string, uint64_t> files;
  for (const auto& f : *all)
    if (!f.is_dir) files[f.path.substr(root_.size() + 1)] = f.size;
  EXPECT_EQ(files,
            (std::map<std::string, uint64_t>{{"r/a", 1}, {"r/sub/b", 2}, {"r/sub/deeper/c", 3}}));
  auto missing = storage_->list_recursive(at("nothing"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound) << missing.error().message;
}

TEST_P(StorageContractTest, MakeDirCreatesParentsAndToleratesExisting) {
  ASSERT_TRUE(storage_->make_dir(at("x/y/z")));
  ASSERT_TRUE(storage_->make_dir(at("x/y/z")));
  if (GetParam().has_directories) {
    auto info = storage_->stat(at("x/y/z"));
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_TRUE(info->is_dir);
  } else {
    // Object stores have no empty directories: nothing was created, nothing fails.
    EXPECT_EQ(names(root_), std::vector<std::string>{});
  }
}

TEST_P(StorageContractTest, RenameMovesADirectoryWhereThereAreDirectories) {
  if (!GetParam().has_directories) GTEST_SKIP() << "object stores rename objects, not prefixes";
  ASSERT_TRUE(put(at("d/one"), "1"));
  ASSERT_TRUE(put(at("d/sub/two"), "22"));
  ASSERT_TRUE(storage_->rename(at("d"), at("e")));
  EXPECT_EQ(names(root_), std::vector<std::string>{"e"});
  EXPECT_EQ(get(at("e/sub/two")).value_or("?"), "22");
}

TEST_P(StorageContractTest, OpenReadMissing) {
  auto r = storage_->open_read(at("missing"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotFound);
  EXPECT_NE(r.error().message.find(at("missing")), std::string::npos) << r.error().message;
}

TEST_P(StorageContractTest, FreeSpace) {
  auto fs_root = storage_->free_space(root_);
  ASSERT_TRUE(fs_root) << fs_root.error().message;
  // A directory that does not exist yet is answered for the place it would be created in.
  auto fs_new = storage_->free_space(at("not/yet/created"));
  ASSERT_TRUE(fs_new) << fs_new.error().message;
  if (GetParam().reports_free_space) {
    ASSERT_TRUE(fs_root->has_value());
    EXPECT_GT(**fs_root, 0u);
    ASSERT_TRUE(fs_new->has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(Drivers, StorageContractTest, ::testing::ValuesIn(drivers()),
                         [](const auto& info) { return info.param.name; });

// ---- LocalDir specifics ----

class LocalDriverTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = local_case().make_root(); }
  void TearDown() override { local_case().remove_root(root_); }
  std::vector<std::string> dir_names() const {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(root_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  Storage storage_{make_local_driver()};
  std::string root_;
};

TEST_F(LocalDriverTest, TemporaryNameModeAndCleanup) {
  auto w = storage_.open_write(root_ + "/backup.tar.gz");
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE((*w)->write(io::as_bytes("data")));
  auto during = dir_names();
  ASSERT_EQ(during.size(), 1u);
  // ".<name>.tmp-<16 hex digits>" (no std::regex: GCC 12 warns inside it under sanitizers).
  const std::string prefix = ".backup.tar.gz.tmp-";
  ASSERT_TRUE(during[0].starts_with(prefix)) << during[0];
  std::string hex = during[0].substr(prefix.size());
  EXPECT_EQ(hex.size(), 16u) << during[0];
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos) << during[0];
  ASSERT_TRUE((*w)->finish());
  EXPECT_EQ(dir_names(), std::vector<std::string>{"backup.tar.gz"});
  struct stat st {};
  ASSERT_EQ(::stat((root_ + "/backup.tar.gz").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A finished writer takes nothing more.
  EXPECT_FALSE((*w)->write(io::as_bytes("more")));
}

TEST_F(LocalDriverTest, SetAttributesAndStatReportModeAndMtime) {
  std::string f = root_ + "/f";
  { std::ofstream(f) << "x"; }
  ASSERT_TRUE(storage_.set_attributes(f, 0640u, int64_t{1500000000}));
  auto info = storage_.stat(f);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->mode, 0640u);
  EXPECT_EQ(info->mtime, 1500000000);
  // Only what is given changes.
  ASSERT_TRUE(storage_.set_attributes(f, std::nullopt, int64_t{1600000000}));
  info = storage_.stat(f);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->mode, 0640u);
  EXPECT_EQ(info->mtime, 1600000000);
  auto missing = storage_.set_attributes(root_ + "/nope", 0600u, std::nullopt);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound) << missing.error().message;
}

TEST_F(LocalDriverTest, RelativePathsAreRefused) {
  for (const std::string& p : {std::string("relative/f"), std::string()}) {
    auto w = storage_.open_write(p);
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code, Errc::kInvalidArgument);
    EXPECT_FALSE(storage_.stat(p));
  }
}

TEST_F(LocalDriverTest, OnlyRegularFilesAreReadAndAFifoDoesNotBlock) {
  // A FIFO nobody writes to used to block open() until a writer came (issue 16); a device
  // could be read forever.
  const std::string fifo = root_ + "/x.tar.gz";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& p : {fifo, std::string("/dev/zero")}) {
    auto begin = std::chrono::steady_clock::now();
    auto r = storage_.open_read(p);
    ASSERT_FALSE(r) << p;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
    EXPECT_EQ(r.error().message, "opening " + p + ": not a regular file");
    EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(1));
  }
  // A regular file reads as before (the descriptor is blocking again).
  { std::ofstream(root_ + "/f") << "data"; }
  auto r = storage_.open_read(root_ + "/f");
  ASSERT_TRUE(r) << r.error().message;
  auto all = io::read_all(**r, 100);
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, "data");
}

TEST_F(LocalDriverTest, ReadingADirectoryFails) {
  auto r = storage_.open_read(root_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kIOError);
}

TEST_F(LocalDriverTest, ParentThatIsAFile) {
  ASSERT_TRUE(storage_.open_write(root_ + "/file").value()->finish());
  auto w = storage_.open_write(root_ + "/file/child");
  ASSERT_FALSE(w);
}

TEST(OpenStorageTest, LocalDirAndHdfsWithoutCluster) {
  auto local = open_storage({.type = PathType::kLocalDir}, nullptr);
  ASSERT_TRUE(local) << local.error().message;
  EXPECT_EQ((*local)->kind(), "LocalDir");
  for (PathType t : {PathType::kLocalHDFS, PathType::kRemoteHDFS}) {
    auto s = open_storage({.type = t}, nullptr);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
    EXPECT_EQ(s.error().field, "cluster");
  }
}

}  // namespace
}  // namespace flinkbr::storage
