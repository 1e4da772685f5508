#include "source/zookeeper/payload_writer.h"

namespace flinkbr::source::zookeeper {

PayloadWriter::PayloadWriter(archive::SourceArchiveWriter& out, int64_t mtime)
    : out_(out), mtime_(mtime) {
  part_.reserve(kPartLimit + 64 * 1024);
}

Status PayloadWriter::encode(std::string& out, const std::string& rel, const Znode& z,
                             const std::string& abs_path) {
  const size_t size = out.size();
  if (auto st = append_line(out, rel, z); !st) {
    out.resize(size);  // no half line
    return failed_precondition("znode " + abs_path +
                               " cannot be stored in a backup: " + st.error().message);
  }
  return ok();
}

Status PayloadWriter::add(const std::string& rel, const Znode& z, const std::string& abs_path) {
  line_.clear();
  TRY(encode(line_, rel, z, abs_path));
  return add_line(line_);
}

Status PayloadWriter::add_line(std::string_view line) {
  if (!part_.empty() && part_.size() + line.size() > kPartLimit) TRY(flush());
  part_ += line;
  ++znodes_;
  return ok();
}

Status PayloadWriter::finish() {
  if (!part_.empty() || parts_ == 0) TRY(flush());
  return ok();
}

Status PayloadWriter::flush() {
  TRY(out_.add_bytes(part_name(++parts_), part_, 0644, mtime_));
  part_.clear();
  return ok();
}

}  // namespace flinkbr::source::zookeeper
