// The schema of a postgres source, in two forms (docs/archive-format.md, "postgres sources"):
//   - its DDL, as `pg_dump --schema-only` writes it, in two sections: "pre-data" (types,
//     functions, tables, sequences, views, materialized views, comments, grants) runs before the
//     rows are loaded, "post-data" (indexes, constraints, foreign keys, triggers, rules) after,
//     so that no trigger exists while the rows go back and every key checks the rows once;
//   - its catalogue model: one line per object ("column jobs.name" -> "text NOT NULL"), read by
//     catalogue queries, which a preview compares with the live schema and a restore checks
//     afterwards.
// pg_dump is the well-kept tool that knows every kind of object and their order; the model is
// ours because a comparison must name what differs. pg_dump must be at least the server's major
// version: the newest /usr/lib/postgresql/<N>/bin/pg_dump is used, or `pg_dump` on the PATH.
//
// Internal to source/postgres/. Not thread-safe (one Session).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "source/postgres/pg_session.h"

namespace flinkbr::source::postgres {

// Object key -> definition, sorted by key. Keys name the kind first ("table", "column",
// "constraint", "index", "trigger", "view", "materialized view", "sequence", "function", "type",
// "comment on", "grants on", "owner of").
using SchemaModel = std::map<std::string, std::string>;

// Reads the model of `schema` (objects that belong to an extension are left out).
[[nodiscard]] Result<SchemaModel> read_schema_model(Session& db, const std::string& schema);

// One difference between a backed-up and a live model, as the preview lists it.
struct SchemaDifference {
  enum class Kind { kAdded, kChanged, kRemoved } kind;  // as SourceDiff's lists
  std::string item;
};
std::vector<SchemaDifference> compare_models(const SchemaModel& backup, const SchemaModel& live);

// The roles a model names as owners or in grants (to check that they exist before a restore).
std::vector<std::string> roles_of(const SchemaModel& model);

// pg_dump --schema-only of `schema`, one section ("pre-data" or "post-data"), read in the
// exported snapshot `snapshot`; `conninfo` without its password, which goes through the
// environment of the child only. Lines that are psql meta-commands (\restrict) are dropped,
// so that the text is plain SQL.
struct DumpTarget {
  std::string conninfo;
  std::string password;
  std::string schema;
  std::string snapshot;
  int server_version = 0;  // PQserverVersion
};
[[nodiscard]] Result<std::string> dump_schema_section(const DumpTarget& target,
                                                      const std::string& section);

// Refuses (kFailedPrecondition, naming both versions) when no pg_dump of at least the server's
// major version is installed.
[[nodiscard]] Status check_pg_dump(int server_version);

// Objects outside `schema` that depend on objects in it (views of other schemas, columns of its
// types, foreign keys, publications ...), described as PostgreSQL does, except the constraints
// whose oids are in `except` (the foreign keys the restore drops and adds back itself).
[[nodiscard]] Result<std::vector<std::string>> outside_dependents(
    Session& db, const std::string& schema, const std::vector<std::string>& except);

// Drops every object of `schema` that does not belong to an extension (tables, views, sequences,
// routines, types, domains), with CASCADE inside the schema. The caller checked that nothing
// outside depends on them.
[[nodiscard]] Status drop_schema_objects(Session& db, const std::string& schema);

}  // namespace flinkbr::source::postgres
