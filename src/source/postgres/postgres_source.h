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
//   tables/<table>/part-000001.copy ...  COPY text format rows of the table, ordered by the row's
//                                        text form (COLLATE "C"), cut on row boundaries into
//                                        parts of at most 4 MiB (a larger single row is a part
//                                        by itself); no parts for an empty table
//   schema.json                          tables with their columns, row counts, part counts and
//                                        SHA-256 of their COPY text; sequence values
// <table> is the table name with every byte outside [A-Za-z0-9_-] written as %XX.
// The backup runs in one REPEATABLE READ, READ ONLY transaction, with fixed session settings
// (UTC, ISO dates, hex bytea, extra_float_digits 3) so that the COPY text is exact and stable.
//
// Restore stages the parts as files under ctx.staging_dir. commit() runs one transaction:
// SET CONSTRAINTS ALL DEFERRED; TRUNCATE of all tables in one statement; COPY FROM STDIN of
// each table in an order that foreign keys among them accept; SET CONSTRAINTS ALL IMMEDIATE;
// setval of each sequence; COMMIT. Any failure rolls back; sequences (setval is not
// transactional) are set only after all rows are in and checked, and put back if COMMIT fails.
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

// The largest COPY part written by a backup (bytes), unless a single row is larger.
inline constexpr size_t kMaxPartBytes = 4u << 20;

}  // namespace flinkbr::source::postgres
