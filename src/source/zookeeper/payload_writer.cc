#include "source/zookeeper/payload_writer.h"

namespace flinkbr::source::zookeeper {

PayloadWriter::PayloadWriter(archive::SourceArchiveWriter& out, int64_t mtime)
    : out_(out), mtime_(mtime) {
  part_.reserve(kPartLimit + 64 * 1024);
}

Status PayloadWriter::add(const std::string& rel, const Znode& z, const std::string& abs_path) {
  line_.clear();
  if (auto st = append_line(line_, rel, z); !st)
    return failed_precondition("znode " + abs_path +
                               " cannot be stored in a backup: " + st.error().message);
  if (!part_.empty() && part_.size() + line_.size() > kPartLimit) TRY(flush());
  part_ += line_;
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
