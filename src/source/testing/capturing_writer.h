// Test support for metadata sources: an ArchiveWriter that keeps every entry in memory, so that
// a test can back a source up, look at the entries, damage the live state and stage them back;
// a backup through the real archive writer; temporary directories.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "archive/archive_reader.h"
#include "archive/archive_writer.h"
#include "source/metadata_source.h"

namespace flinkbr::source::testing {

struct Captured {
  std::string path;
  archive::EntryType type;
  uint32_t mode;
  int64_t mtime;
  std::string data;
};

class CapturingWriter final : public archive::ArchiveWriter {
 public:
  Status add_directory(std::string_view path, uint32_t mode, int64_t mtime) override {
    entries.push_back({std::string(path), archive::EntryType::kDirectory, mode, mtime, ""});
    return ok();
  }
  Status add_file(std::string_view path, uint32_t mode, int64_t mtime, uint64_t size,
                  io::Reader& data) override {
    if (before_read) before_read(path);
    std::string content = TRY(io::read_all(data, 1 << 30));
    if (content.size() != size) return io_error(std::string(path) + ": size changed");
    bytes += size;
    entries.push_back(
        {std::string(path), archive::EntryType::kFile, mode, mtime, std::move(content)});
    return ok();
  }
  Status add_bytes(std::string_view path, std::string_view data, uint32_t mode,
                   int64_t mtime) override {
    entries.push_back(
        {std::string(path), archive::EntryType::kFile, mode, mtime, std::string(data)});
    return ok();
  }
  Status finish() override { return ok(); }
  uint64_t payload_bytes() const override { return bytes; }

  std::vector<Captured> entries;
  uint64_t bytes = 0;
  std::function<void(std::string_view)> before_read;
};

// Backs `src` up through the real archive writer, as source "<name>" of a backup file with a
// fixed header; returns the tar bytes (the test fails on an error).
inline std::string backup_tar(MetadataSource& src, const TaskContext& ctx) {
  io::StringWriter tar;
  archive::Header header;
  header.system_version = "1.18.1";
  header.data_source = "Flink";
  header.cluster = "c";
  header.execution_time = "20260101000000";
  header.sources.push_back({src.name(), src.kind(), src.location()});
  auto w = archive::ArchiveWriter::create(tar, header);
  EXPECT_TRUE(w) << w.error().message;
  if (!w) return {};
  archive::SourceArchiveWriter out(**w, src.name());
  auto st = src.backup(out, ctx);
  EXPECT_TRUE(st) << st.error().message;
  st = (*w)->finish();
  EXPECT_TRUE(st) << st.error().message;
  return tar.str();
}

// A fresh temporary directory, removed with everything in it at the end of the scope.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "flinkbr-test-XXXXXX").string();
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view rel) const { return path_ + "/" + std::string(rel); }

 private:
  std::string path_;
};

inline archive::Entry entry_of(const Captured& c) {
  return archive::Entry{
      .path = c.path, .type = c.type, .size = c.data.size(), .mode = c.mode, .mtime = c.mtime};
}

}  // namespace flinkbr::source::testing
