// The `postgres` metadata source: the tables of one schema of a job-management database
// (FlinkServer, StreamPark, Dinky), reached through libpq.
//
// Configuration ({"dsn": ..., "schema": ..., "tables": [...], "password_file": ...}):
//   dsn            required; a libpq connection string ("host=db port=5432 dbname=flink
//                  user=flinkbr" or "postgresql://flinkbr@db/flink")
//   schema         default "public"
//   tables         optional list of table names in that schema; default: every ordinary table
//                  of the schema (relkind 'r'), in byte-wise name order
//   password_file  optional; a file holding the password, readable only by its owner (no group
//                  or other permission bits, e.g. 0600), else refused naming the file. Without
//                  it, libpq finds the password itself (PGPASSWORD, ~/.pgpass).
// The password never appears in messages or in location() ("postgres://host:port/db/schema").
//
// Payload layout, under "sources/<name>/" (docs/archive-format.md, "postgres sources"):
//   schema/pre-data.sql, schema/post-data.sql
//                                        pg_dump --schema-only of the schema, in two sections
//                                        (only for a whole schema: no `tables` list)
//   tables/<table>/part-000001.copy ...  COPY text format rows of the table, ordered by the row's
//                                        text form (COLLATE "C"), cut on row boundaries into
//                                        parts of at most 4 MiB (a larger single row is a part
//                                        by itself); no parts for an empty table
//   large-objects/<oid>                  bytes of each large object an oid column references
//   schema.json                          format 1 or 2; tables with their columns, row counts,
//                                        part counts and SHA-256 of their COPY text; sequence
//                                        values; the schema's catalogue model, populated
//                                        materialized views and large objects (format 2)
// <table> is the table name with every byte outside [A-Za-z0-9_-] written as %XX.
// The backup runs in one REPEATABLE READ, READ ONLY transaction, with fixed session settings
// (UTC, ISO dates, hex bytea, extra_float_digits 3) so that the COPY text is exact and stable;
// pg_dump reads in the same exported snapshot.
//
// Restore stages the entries as files under ctx.staging_dir. commit() runs one transaction:
// when the live schema's model differs from the backup's, the schema's own objects are dropped
// and re-created (pre-data, rows, post-data); otherwise the tables' user triggers are disabled,
// the tables emptied with one TRUNCATE and refilled with COPY, and the triggers set back. Foreign
// keys from outside into the tables are dropped and added back; large objects are written with
// their oids; materialized views refreshed; sequences set. Objects of other schemas are never
// dropped: diff() and commit() refuse (kFailedPrecondition) a re-creation that would, naming
// them. Any failure rolls back; sequences (setval is not transactional) are set last and put
// back if COMMIT fails, and failed_commit_changed_nothing() then says so.
//
// Not thread-safe: one task thread uses a source and its StagedRestore at a time.
#pragma once

#include <memory>
#include <string_view>

#include "config/config.h"
#include "source/metadata_source.h"

namespace flinkbr::source::postgres {

inline constexpr std::string_view kKind = "postgres";

// Checks cfg.params (unknown keys refused, kInvalidArgument naming "<key_path>.<key>").
[[nodiscard]] Status validate_config(const config::SourceConfig& cfg);

// Builds the source; validates first. Does not connect.
[[nodiscard]] Result<std::unique_ptr<MetadataSource>> create(const config::SourceConfig& cfg);

// The checks a restore makes of the payload of `desc` (PayloadCheck): its staging itself, which
// then writes nothing and never connects (every entry's name, whole rows, schema.json against
// the parts and large objects, the DDL against ddl_guard.h for the backup's own schema).
[[nodiscard]] Result<std::unique_ptr<PayloadCheck>> make_payload_check(
    const archive::SourceDescriptor& desc, const TaskContext& ctx);

// The largest COPY part written by a backup (bytes), unless a single row is larger.
inline constexpr size_t kMaxPartBytes = 4u << 20;

}  // namespace flinkbr::source::postgres
