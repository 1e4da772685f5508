// libFuzzer target for the decoders of ZooKeeper's answers (src/source/zookeeper/wire.h), which
// read whatever a server sends; run by scripts/fuzz.sh, replayed by the normal build
// (fuzz/CMakeLists.txt). The first byte chooses the decoder (and, for a multiRead, the number of
// operations sent, whose kinds the next bytes give), the rest is the frame.
//
// Beyond "no crash, no sanitizer report, no allocation above -malloc_limit_mb", it checks what
// the pipeline relies on: every pointer a decoder hands on lies in its holder or in the frame,
// and the C structs count what they point to.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "source/zookeeper/wire.h"

namespace {

namespace wire = flinkbr::source::zookeeper::wire;

void check(bool ok) {
  if (!ok) std::abort();
}

// `p` points at a NUL-terminated string inside `blob`.
void check_in(const std::string& blob, const char* p) {
  check(p >= blob.data() && p < blob.data() + blob.size());
  check(std::memchr(p, '\0', static_cast<size_t>(blob.data() + blob.size() - p)) != nullptr);
}

void check_view_in(std::string_view frame, std::string_view v) {
  check(v.data() >= frame.data() && v.data() + v.size() <= frame.data() + frame.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const uint8_t which = bytes[0];
  std::string_view frame(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  switch (which % 6) {
    case 0:
      (void)wire::decode_connect(frame);
      break;
    case 1: {
      std::string_view body;
      if (wire::decode_header(frame, body)) check_view_in(frame, body);
      break;
    }
    case 2:
      if (auto r = wire::decode_data(frame); r && r->data) check_view_in(frame, *r->data);
      break;
    case 3: {
      wire::AclReply r;
      if (!wire::decode_acl(frame, r)) break;
      check(r.vector.count == static_cast<int32_t>(r.acl.size()) && r.vector.data == r.acl.data());
      for (const ACL& a : r.acl) {
        check_in(r.blob, a.id.scheme);
        check_in(r.blob, a.id.id);
      }
      break;
    }
    case 4: {
      wire::ChildrenReply r;
      if (!wire::decode_children(frame, r)) break;
      check(r.vector.count == static_cast<int32_t>(r.pointers.size()));
      for (char* p : r.pointers) check_in(r.blob, p);
      break;
    }
    default: {
      // The operations sent: as many as which / 6, their kinds from the low bits of the bytes
      // that follow (getData or getChildren).
      const size_t count = std::min<size_t>(which / 6, frame.size());
      std::vector<wire::Op> ops;
      for (size_t i = 0; i < count; ++i)
        ops.push_back(frame[i] & 1 ? wire::kGetChildren : wire::kGetData);
      frame.remove_prefix(count);
      std::vector<wire::MultiResult> out;
      if (!wire::decode_multi(frame, ops, out)) break;
      check(out.size() == ops.size());
      for (size_t i = 0; i < out.size(); ++i) {
        const wire::MultiResult& r = out[i];
        if (r.err != 0) continue;
        if (ops[i] == wire::kGetData) {
          if (r.data.data) check_view_in(frame, *r.data.data);
          continue;
        }
        for (std::string_view name : r.names) check_view_in(frame, name);
        wire::ChildrenReply c;
        c.assign(r.names, Stat{});
        check(c.vector.count == static_cast<int32_t>(r.names.size()));
        for (char* p : c.pointers) check_in(c.blob, p);
      }
      break;
    }
  }
  return 0;
}
