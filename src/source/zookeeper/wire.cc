#include "source/zookeeper/wire.h"

#include <cstring>

namespace flinkbr::source::zookeeper::wire {

namespace {

void put32(std::string& out, int32_t v) {
  auto u = static_cast<uint32_t>(v);
  const char b[4] = {static_cast<char>(u >> 24), static_cast<char>(u >> 16),
                     static_cast<char>(u >> 8), static_cast<char>(u)};
  out.append(b, 4);
}
void put64(std::string& out, int64_t v) {
  put32(out, static_cast<int32_t>(static_cast<uint64_t>(v) >> 32));
  put32(out, static_cast<int32_t>(static_cast<uint64_t>(v) & 0xffffffffu));
}
void put_buffer(std::string& out, std::string_view s) {
  put32(out, static_cast<int32_t>(s.size()));
  out.append(s);
}

// Reserves the frame's length and fills it in when the packet is complete.
class Frame {
 public:
  explicit Frame(std::string& out) : out_(out), at_(out.size()) { out.append(4, '\0'); }
  ~Frame() {
    auto n = static_cast<uint32_t>(out_.size() - at_ - 4);
    out_[at_] = static_cast<char>(n >> 24);
    out_[at_ + 1] = static_cast<char>(n >> 16);
    out_[at_ + 2] = static_cast<char>(n >> 8);
    out_[at_ + 3] = static_cast<char>(n);
  }
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;

 private:
  std::string& out_;
  size_t at_;
};

// Reads jute values off a frame; any read past the end fails the reader for good.
class In {
 public:
  explicit In(std::string_view s) : s_(s) {}
  bool ok() const { return ok_; }
  std::string_view rest() const { return s_; }

  int32_t i32() {
    unsigned char b[4] = {};
    if (!take(b, 4)) return 0;
    return static_cast<int32_t>((uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) |
                                (uint32_t{b[2]} << 8) | uint32_t{b[3]});
  }
  int64_t i64() {
    auto hi = static_cast<uint32_t>(i32());
    auto lo = static_cast<uint32_t>(i32());
    return static_cast<int64_t>((uint64_t{hi} << 32) | lo);
  }
  bool boolean() {
    unsigned char b = 0;
    take(&b, 1);
    return b != 0;
  }
  // A buffer or string; nullopt for a null one (length -1) and on failure (check ok()).
  std::optional<std::string_view> buffer() {
    int32_t n = i32();
    if (!ok_ || n == -1) return std::nullopt;
    if (n < 0 || static_cast<size_t>(n) > s_.size()) return fail();
    std::string_view v = s_.substr(0, static_cast<size_t>(n));
    s_.remove_prefix(static_cast<size_t>(n));
    return v;
  }
  // A vector's count: -1 (null) reads as 0; a count whose elements, of at least `min_size`
  // bytes each, cannot fit what is left fails.
  size_t count(size_t min_size) {
    int32_t n = i32();
    if (!ok_ || n == -1) return 0;
    if (n < 0 || static_cast<size_t>(n) > s_.size() / min_size) {
      fail();
      return 0;
    }
    return static_cast<size_t>(n);
  }
  Stat stat() {
    Stat st{};
    st.czxid = i64();
    st.mzxid = i64();
    st.ctime = i64();
    st.mtime = i64();
    st.version = i32();
    st.cversion = i32();
    st.aversion = i32();
    st.ephemeralOwner = i64();
    st.dataLength = i32();
    st.numChildren = i32();
    st.pzxid = i64();
    return st;
  }

 private:
  bool take(unsigned char* to, size_t n) {
    if (!ok_ || s_.size() < n) {
      ok_ = false;
      return false;
    }
    std::memcpy(to, s_.data(), n);
    s_.remove_prefix(n);
    return true;
  }
  std::nullopt_t fail() {
    ok_ = false;
    return std::nullopt;
  }

  std::string_view s_;
  bool ok_ = true;
};

// Appends a string of an ACL (its scheme or id) and its NUL to `blob`, returning where it
// starts; the C client hands on "" for a null one.
size_t element(In& in, std::string& blob) {
  size_t at = blob.size();
  if (auto v = in.buffer()) blob.append(*v);
  blob.push_back('\0');
  return at;
}

}  // namespace

void append_connect(std::string& out, int32_t timeout_ms) {
  Frame f(out);
  put32(out, 0);                           // protocolVersion
  put64(out, 0);                           // lastZxidSeen: a new session
  put32(out, timeout_ms);                  // timeOut
  put64(out, 0);                           // sessionId: a new session
  put_buffer(out, std::string(16, '\0'));  // passwd
  out.push_back('\0');                     // readOnly: false
}

void append_auth(std::string& out, std::string_view scheme, std::string_view credentials) {
  Frame f(out);
  put32(out, kAuthXid);
  put32(out, kAuth);
  put32(out, 0);  // AuthPacket.type
  put_buffer(out, scheme);
  put_buffer(out, credentials);
}

void append_request(std::string& out, int32_t xid, Op op, std::string_view path) {
  Frame f(out);
  put32(out, xid);
  put32(out, op);
  put_buffer(out, path);
  if (op != kGetAcl) out.push_back('\0');  // watch: false
}

void append_ping(std::string& out) {
  Frame f(out);
  put32(out, kPingXid);
  put32(out, kPing);
}

void append_multi_op(std::string& ops, Op op, std::string_view path) {
  put32(ops, op);  // MultiHeader: type, done, err
  ops.push_back('\0');
  put32(ops, -1);
  put_buffer(ops, path);
  ops.push_back('\0');  // watch: false
}

void append_multi(std::string& out, int32_t xid, std::string_view ops) {
  Frame f(out);
  put32(out, xid);
  put32(out, kMultiRead);
  out.append(ops);
  put32(out, -1);  // the closing MultiHeader
  out.push_back('\1');
  put32(out, -1);
}

void append_close(std::string& out, int32_t xid) {
  Frame f(out);
  put32(out, xid);
  put32(out, kCloseSession);
}

std::optional<Handshake> decode_connect(std::string_view frame) {
  In in(frame);
  in.i32();  // protocolVersion
  Handshake r;
  r.timeout_ms = in.i32();
  r.session_id = in.i64();
  in.buffer();  // passwd; readOnly may follow (servers from 3.4 on), unused
  if (!in.ok()) return std::nullopt;
  return r;
}

std::optional<Header> decode_header(std::string_view frame, std::string_view& body) {
  In in(frame);
  Header h;
  h.xid = in.i32();
  h.zxid = in.i64();
  h.err = in.i32();
  if (!in.ok()) return std::nullopt;
  body = in.rest();
  return h;
}

std::optional<DataReply> decode_data(std::string_view body) {
  In in(body);
  DataReply r;
  r.data = in.buffer();
  r.stat = in.stat();
  if (!in.ok()) return std::nullopt;
  return r;
}

bool decode_multi(std::string_view body, const std::vector<Op>& ops,
                  std::vector<MultiResult>& out) {
  In in(body);
  out.clear();
  for (;;) {
    const int32_t type = in.i32();
    const bool done = in.boolean();
    const int32_t err = in.i32();
    if (!in.ok()) return false;
    if (done) return out.size() == ops.size();
    if (out.size() == ops.size()) return false;
    MultiResult& r = out.emplace_back();
    const Op op = ops[out.size() - 1];
    if (type == kError) {
      r.err = in.i32();  // ErrorResponse
      if (r.err == 0) return false;
    } else if (type != op || err != 0) {
      return false;
    } else if (op == kGetData) {
      r.data.data = in.buffer();
      r.data.stat = in.stat();
    } else {
      // A name is at least its length: the count cannot claim more than what is left.
      size_t n = in.count(4);
      for (size_t i = 0; i < n && in.ok(); ++i) r.names.push_back(in.buffer().value_or(""));
    }
    if (!in.ok()) return false;
  }
}

bool decode_acl(std::string_view body, AclReply& out) {
  In in(body);
  out.blob.clear();
  out.acl.clear();
  // An ACL is perms, scheme and id: at least 12 bytes.
  size_t n = in.count(12);
  struct At {
    int32_t perms;
    size_t scheme, id;  // offsets in the blob
  };
  std::vector<At> at;
  for (size_t i = 0; i < n && in.ok(); ++i) {
    int32_t perms = in.i32();
    size_t scheme = element(in, out.blob);
    at.push_back({perms, scheme, element(in, out.blob)});
  }
  out.stat = in.stat();
  if (!in.ok()) return false;
  out.acl.reserve(n);
  for (const At& a : at)
    out.acl.push_back(ACL{a.perms, Id{out.blob.data() + a.scheme, out.blob.data() + a.id}});
  out.vector = ACL_vector{static_cast<int32_t>(n), out.acl.data()};
  return true;
}

void ChildrenReply::assign(const std::vector<std::string_view>& list, const Stat& st) {
  blob.clear();
  pointers.clear();
  for (std::string_view name : list) {
    blob.append(name);
    blob.push_back('\0');
  }
  // Once the blob is whole (appending moves it).
  size_t at = 0;
  for (std::string_view name : list) {
    pointers.push_back(blob.data() + at);
    at += name.size() + 1;
  }
  vector = String_vector{static_cast<int32_t>(list.size()), pointers.data()};
  stat = st;
}

bool decode_children(std::string_view body, ChildrenReply& out) {
  In in(body);
  size_t n = in.count(4);
  std::vector<std::string_view> names;
  for (size_t i = 0; i < n && in.ok(); ++i) names.push_back(in.buffer().value_or(""));
  const Stat st = in.stat();
  if (!in.ok()) return false;
  out.assign(names, st);
  return true;
}

}  // namespace flinkbr::source::zookeeper::wire
