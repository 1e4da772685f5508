// The `zookeeper` metadata source: the Flink HA tree under a root znode (e.g. /flink/<cluster-id>).
//
// Configuration (SourceConfig.params):
//   connect                  required; a ZooKeeper connect string "host:port[,host:port...]"
//   root                     required; absolute, normalized znode path, not "/"
//   session_timeout          optional duration ("30s", "2m"; default 30s): the session timeout
//                            asked of the server, and how long a connection may take to be
//                            established before the server counts as not answering
//   digest_credentials_file  optional; a file holding "user:password" (digest scheme). It must
//                            be of mode 0600, or it is refused naming it. Without it the
//                            environment variable FLINKBR_ZK_DIGEST ("user:password") is used
//                            when set.
// Unknown keys are refused naming "<key_path>.<key>".
//
// Payload (docs/archive-format.md, "zookeeper sources"): entries "znodes/part-000001.jsonl",
// "znodes/part-000002.jsonl", ... each at most 4 MiB of JSON lines, one persistent znode per
// line, sorted byte-wise by path (the root first as "/"), e.g.
//   {"acl":[{"id":"anyone","perms":31,"scheme":"world"}],"data":"AAEC","path":"/jobs/a",
//    "sequential":false}
// "data" is base64, or null for a znode whose data is null (empty data is ""). Ephemeral znodes
// are left out and counted in the task log.
//
// The source is made of small units, each with its own header beside this one:
//   codec.h           the payload's JSON lines and base64; the engine may include it to read a
//                     ZooKeeper payload from a backup file (parse_line, for_each_line)
//   session.h         one session: connection, digest credentials, error mapping; the
//                     parameters of a configuration (params_from_config)
//   tree_reader.h     the pipelined read of a tree, one sink call per znode in payload order
//   pipeline.h        a session of its own for pipelined reads, speaking ZooKeeper's wire
//                     protocol (wire.h): batched requests, getData gathered into multiRead
//   payload_writer.h  znodes in payload order into payload parts
//   batch_writer.h    pipelined writes in zoo_amulti batches
//   staged_index.h    what a restore keeps per znode, spooled to the staging directory
//   staged_restore.h  the restore: staging, diff, commit() as named steps, verify
//
// Reads are pipelined over two Pipelines (pipeline.h) on the server of the source's session: per
// znode a getData and a getACL at once, a getChildren2 only when its Stat counts children; up to
// 2,000 requests in flight, the znodes dealt in turn over the two (the server answers one
// session's requests in order), the getData requests gathered 16 to a multiRead where the server
// has it (3.6 and later): ZooKeeper's cost per request is most of a read's. The tree
// is streamed in payload order (smallest known path first, at most 2,000 znodes read ahead and
// about 4,096 paths listed ahead: an inner znode is listed when that many allow it), never
// held whole. Writes go in zoo_amulti batches of at most 512 KiB serialized (well under
// jute.maxbuffer), 8 batches in flight. A session processes requests in order, so a batch that
// creates children is applied after the batch that created their parent. docs/benchmarks.md
// ("ZooKeeper") has the measured rates next to zkCli.sh and bare C clients.
//
// Restore: the parts are staged into a file under ctx.staging_dir, parsed and validated by
// finish_staging() into an index without the data (path, SHA-256 of the data, ACL id), spooled
// to two more files there; the data is read again from the payload file when it is written.
// diff(), commit() and verify() compare the live tree with the index in one ordered pass,
// holding neither; what commit() learns per znode (how it differs, what to delete, whose ACL to
// set last) is spooled to the staging directory too. Memory holds the distinct ACLs and bounded
// buffers, whatever the number of znodes. commit():
//   1. compares the live tree with the staged one, spooling what differs;
//   2. deletes live persistent znodes the backup does not hold, children first;
//   3. in payload order, sets the data of znodes whose data differs and creates missing znodes,
//      parents first; a znode that gets children and whose ACL does not let world:anyone
//      create is created with a temporary ACL: auth:ALL when digest credentials are
//      configured, otherwise world:anyone:ALL;
//   4. sets the final ACL of changed znodes and of those created with a temporary ACL, children
//      first, so an ACL that forbids later writes is applied after the children exist.
// Flink-aware (source/flink/layout.h): Flink 1.15+ job graph, execution plan and checkpoint
// znodes come back with their empty persistent `locks` child, which Flink needs to recover them;
// ephemeral Flink locks under `locks` left by a session still open are deleted (a restored
// cluster starts unlocked). Other live ephemeral znodes are left alone (they belong to live
// sessions) unless their parent is removed or their path is a persistent znode of the backup;
// ephemeral znodes are deleted one by one, a vanished one being no failure. A missing root
// passes check() and is created with its missing parents; a backup records a missing root as
// absent (one empty part), and restoring that removes the subtree. A backup refuses an ACL
// whose digest ZooKeeper masked ("user:x": no ADMIN permission), naming the znode and
// digest_credentials_file. live_warnings() reports ephemeral Flink leader znodes of open
// sessions: a JobManager may still be running. A znode created sequential is
// restored under its exact recorded name (as a persistent znode); ZooKeeper does not let a client
// set the parent's sequence counter (cversion), so later sequential creates under that parent
// may pick a number that exists and fail with ZNODEEXISTS until the counter has passed it.
//
// Not thread-safe: one task thread uses a source and its StagedRestore at a time.
#pragma once

#include <memory>
#include <string_view>

#include "config/config.h"
#include "source/metadata_source.h"

namespace flinkbr::source::zookeeper {

inline constexpr std::string_view kKind = "zookeeper";

// Checks cfg.params (see above). kInvalidArgument naming "<key_path>.<key>".
[[nodiscard]] Status validate_config(const config::SourceConfig& cfg);

// Builds the source; validates first. Connects only when used.
[[nodiscard]] Result<std::unique_ptr<MetadataSource>> create(const config::SourceConfig& cfg);

// The checks a restore makes of the payload of `desc` (PayloadCheck): its staging itself
// (staged_restore.h: part names in order, whole lines, every line a znode, root first, byte-wise
// order, every parent present), which reads and writes only files under ctx.staging_dir until
// diff() or commit(), neither of which a check calls.
[[nodiscard]] Result<std::unique_ptr<PayloadCheck>> make_payload_check(
    const archive::SourceDescriptor& desc, const TaskContext& ctx);

}  // namespace flinkbr::source::zookeeper
