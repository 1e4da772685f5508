// Test support for metadata sources: an ArchiveWriter that keeps every entry in memory, so that
// a test can back a source up, look at the entries, damage the live state and stage them back.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "archive/archive_reader.h"
#include "archive/archive_writer.h"

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

inline archive::Entry entry_of(const Captured& c) {
  return archive::Entry{
      .path = c.path, .type = c.type, .size = c.data.size(), .mode = c.mode, .mtime = c.mtime};
}

}  // namespace flinkbr::source::testing
