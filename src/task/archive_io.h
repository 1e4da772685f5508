// The pipelines that move a backup file between sources and storage, shared by backup runs,
// safety copies, verification, restoration runs and previews:
//   write:  sources -> ArchiveWriter (tar) -> parallel gzip -> SHA-256/size -> storage writer
//           (atomic); blocks compress on every core while the source reads, and the writer
//           thread of the gzip layer hashes and stores (io/parallel_gzip.h)
//   read:   storage reader -> SHA-256/size (progress) -> gunzip (ISA-L) -> read-ahead thread
//           -> ArchiveReader (checks); reading, hashing and inflating run on the read-ahead
//           thread while the caller checks entries and writes staged files
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "archive/archive_reader.h"
#include "io/parallel_gzip.h"
#include "source/metadata_source.h"
#include "storage/storage.h"

namespace flinkbr::task {

struct WrittenFile {
  uint64_t size = 0;
  std::string sha256;  // of the whole file
  uint64_t payload_bytes = 0;
};

// Writes a complete backup file at `path` (never overwriting). `on_payload` is called with the
// payload bytes written so far. The manifest is spooled in ctx.staging_dir ("" for $TMPDIR).
// Nothing carries the final name unless everything succeeded. `observer`, when given, sees every
// payload entry as it is written (the Flink HA inspector).
[[nodiscard]] Result<WrittenFile> write_backup_file(
    storage::Storage& storage, const std::string& path, const archive::Header& header,
    const std::vector<source::MetadataSource*>& sources, const source::TaskContext& ctx,
    const io::Compression& compression, const std::function<void(uint64_t)>& on_payload,
    archive::EntryObserver* observer = nullptr);

// Reads only the header of a backup file (cheap: the first entry).
[[nodiscard]] Result<archive::Header> read_backup_header(storage::Storage& storage,
                                                         const std::string& path);

struct VerifiedFile {
  archive::VerifyReport report;
  uint64_t file_size = 0;
  std::string sha256;
};
// Reads the whole file and checks every entry against the manifest. `on_file_bytes` gets the
// bytes of the (compressed) file read so far. The reader's per-entry records go to unnamed spool
// files in `spool_dir` ("" for $TMPDIR or /tmp; io/spool.h).
[[nodiscard]] Result<VerifiedFile> verify_backup_file(
    storage::Storage& storage, const std::string& path,
    const std::function<void(uint64_t)>& on_file_bytes, const std::string& spool_dir = {},
    archive::EntryObserver* observer = nullptr);

// Removes the scratch directories that verifications of processes no longer running left in
// `dir` (a spool_dir of verify_backup_file) when they were killed; logged nowhere, never fatal.
void remove_verify_leftovers(const std::string& dir);

// verify_backup_file of a file already open (`path` names it in messages): the fuzz target of
// whole backup files (fuzz/fuzz_backup_file.cc) goes through here, as every verify does.
[[nodiscard]] Result<VerifiedFile> verify_backup_stream(
    std::unique_ptr<io::Reader> file, const std::string& path,
    const std::function<void(uint64_t)>& on_file_bytes, const std::string& spool_dir = {},
    archive::EntryObserver* observer = nullptr);

using StagedMap = std::map<std::string, std::unique_ptr<source::StagedRestore>>;

// What a restore's one pass may stage (task/space_check.h, StagingSpace).
struct StagingLimits {
  // Before an entry of `source` is staged; a refusal stops every source's staging (what was
  // staged is removed at once) while the rest of the file is still read and checked.
  std::function<Status(std::string_view source, const archive::Entry& entry)> admit;
  // When admit() refused and the whole file passed its checks: the refusal to report, given the
  // manifest's totals (`running` is admit()'s own).
  std::function<Error(const archive::ArchiveSummary& summary, Error running)> explain;
};

struct VerifiedStaging {
  VerifiedFile file;
  StagedMap staged;
};
// A restore's verify step (issue 18): reads the file once, checks it exactly as
// verify_backup_file does (every entry against the manifest, the archive's own checks, the file's
// size and SHA-256) and stages it at the same time into each source's StagedRestore, whose add()
// and finish_staging() are the payload checks verify runs (source::PayloadCheck): nothing live
// changes, and nothing staged is returned unless the whole file checked out. The refusals, in the
// order verify gives them: the archive's (a damaged file is named damaged, whatever its payload),
// then the first source in the header's order whose staging refused, in verify's words; then
// `limits`' refusal. On any refusal every staging is removed before this returns. `sources` maps
// source names to live sources and must hold every source of the header; `observer` sees every
// payload entry (the Flink HA inspector).
[[nodiscard]] Result<VerifiedStaging> verify_and_stage_backup_file(
    storage::Storage& storage, const std::string& path,
    const std::map<std::string, source::MetadataSource*>& sources, const source::TaskContext& ctx,
    const std::function<void(uint64_t)>& on_file_bytes, archive::EntryObserver* observer,
    const StagingLimits& limits);

// Stages every source listed in the file's header into its StagedRestore, checking the file
// against its manifest as it goes (put_back_safety_copy: a file this daemon wrote; a restore
// verifies and stages in one pass, above). `sources` maps source names to live sources and must
// hold every source of the header.
[[nodiscard]] Result<StagedMap> stage_backup_file(
    storage::Storage& storage, const std::string& path,
    const std::map<std::string, source::MetadataSource*>& sources, const source::TaskContext& ctx,
    const std::function<void(uint64_t)>& on_file_bytes);

}  // namespace flinkbr::task
