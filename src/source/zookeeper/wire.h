// ZooKeeper's wire protocol, the part a pipelined read needs (pipeline.h): the jute encoding of
// the connect handshake, digest authentication, getData, getACL, getChildren2, multiRead (of
// getData), ping and closeSession requests, and the decoding of their answers. Written from
// ZooKeeper's own definitions (zookeeper.jute: RequestHeader, ReplyHeader, ConnectRequest and
// ConnectResponse, AuthPacket, GetDataResponse, GetACLResponse, GetChildren2Response, Stat,
// MultiHeader, ErrorResponse; ZooDefs.OpCode; MultiOperationRecord and MultiResponse, which
// frame a multi's operations and results with MultiHeaders and end with {-1, true, -1}): every
// integer is big-endian, a buffer or string is an int32 length (-1 for null) and its bytes, a
// vector an int32 count (-1 for null) and its elements, a boolean one byte; every packet is framed
// by an int32 length.
//
// The decoders take a whole frame from the server, whatever it holds: a length or count that
// does not fit what is left is a refusal, never a read past the end or an allocation it names
// (fuzz/fuzz_zk_wire.cc). No IO here.
#pragma once

#include <zookeeper/zookeeper.jute.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flinkbr::source::zookeeper::wire {

// ZooDefs.OpCode.
enum Op : int32_t {
  kGetData = 4,
  kGetAcl = 6,
  kGetChildren = 8,
  kPing = 11,
  kGetChildren2 = 12,
  kMultiRead = 22,  // ZooKeeper 3.6 and later
  kError = -1,      // a multi's failed operation
  kAuth = 100,
  kCloseSession = -11,
};

// The xids ZooKeeper reserves (ClientCnxn): watch events, pings and authentication answers.
inline constexpr int32_t kWatchXid = -1;
inline constexpr int32_t kPingXid = -2;
inline constexpr int32_t kAuthXid = -4;

// The largest frame accepted from a server: a znode's data is at most jute.maxbuffer (1 MB by
// default; Flink's Java client refuses larger frames), a listing of a million children of 30
// bytes is 34 MB. A decoded frame takes at most about 5 times its size.
inline constexpr uint32_t kMaxFrame = 64u * 1024 * 1024;

// Appends framed packets to `out`.
void append_connect(std::string& out, int32_t timeout_ms);
void append_auth(std::string& out, std::string_view scheme, std::string_view credentials);
// getData / getChildren2 (no watch), getACL.
void append_request(std::string& out, int32_t xid, Op op, std::string_view path);
void append_ping(std::string& out);
// A multiRead: `ops` holds operations append_multi_op made (getData or getChildren of `path`).
void append_multi_op(std::string& ops, Op op, std::string_view path);
void append_multi(std::string& out, int32_t xid, std::string_view ops);
void append_close(std::string& out, int32_t xid);

// The server's answer to the handshake.
struct Handshake {
  int32_t timeout_ms = 0;  // negotiated; <= 0 when the server refused the session
  int64_t session_id = 0;
};
// Frames are given without their length prefix.
std::optional<Handshake> decode_connect(std::string_view frame);

struct Header {
  int32_t xid = 0;
  int64_t zxid = 0;
  int32_t err = 0;
};
// The header; `body` is left at what follows it.
std::optional<Header> decode_header(std::string_view frame, std::string_view& body);

// The bodies. Views point into the frame; strings the C structs hand on are copied into one
// blob (they need their NUL), and the C structs point into the holder, which is therefore
// neither copied nor moved.
struct DataReply {
  std::optional<std::string_view> data;  // nullopt: null data
  Stat stat{};
};
std::optional<DataReply> decode_data(std::string_view body);

// The results of a multiRead whose operations were `ops` (getData, getChildren), in order:
// `err` ZOK with the result, or the operation's error. False when the body is malformed, holds
// another number of results, or one of another kind than its operation.
struct MultiResult {
  int32_t err = 0;
  DataReply data;                       // getData
  std::vector<std::string_view> names;  // getChildren (GetChildrenResponse: no Stat)
};
bool decode_multi(std::string_view body, const std::vector<Op>& ops, std::vector<MultiResult>& out);

struct AclReply {
  std::string blob;      // scheme, id, scheme, id, ..., each ending in NUL
  std::vector<ACL> acl;  // points into `blob`
  ACL_vector vector{};   // points into `acl`
  Stat stat{};
};
// Fills `out` (its old content is dropped); false on a malformed body.
bool decode_acl(std::string_view body, AclReply& out);

struct ChildrenReply {
  // Fills the reply from names already decoded (a multiRead's getChildren) and `stat`.
  void assign(const std::vector<std::string_view>& names, const Stat& stat);

  std::string blob;             // the names, each ending in NUL
  std::vector<char*> pointers;  // into `blob`
  String_vector vector{};       // points into `pointers`
  Stat stat{};
};
bool decode_children(std::string_view body, ChildrenReply& out);

}  // namespace flinkbr::source::zookeeper::wire
