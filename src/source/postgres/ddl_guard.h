// The trust boundary of a restore that re-creates a schema: the DDL it runs comes from the
// backup file (schema/pre-data.sql, schema/post-data.sql), and a backup file can be forged or
// edited by hand; its checksums prove only that it was not damaged, not who wrote it. Before
// anything changes, the DDL is split into statements and every statement must be one that
// `pg_dump --schema-only --schema=S` writes for the objects of S: CREATE, ALTER, COMMENT ON,
// GRANT and REVOKE whose target is an object of S (or S itself), the few SETs and the
// set_config of search_path that open pg_dump's script. Anything else (COPY ... TO PROGRAM,
// DROP, DO, INSERT, ALTER ROLE, SET ROLE, a CREATE in another schema ...) refuses the backup,
// naming the entry and the statement. Each statement is then run alone through the extended
// protocol, which refuses a text holding two statements: what was checked is what runs, even
// where this lexer and the server's would cut a text differently.
//
// What this does not stop: code inside the schema's own objects (function bodies, CHECK
// constraints, index expressions, materialized views) runs with the restoring role's rights
// while the rows are loaded, the indexes built and the views refreshed. A restore must connect
// as a role that owns the schema and nothing more (not a superuser, not a member of
// pg_execute_server_program or pg_write_server_files); docs/archive-format.md says so.
//
// Internal to source/postgres/. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace flinkbr::source::postgres {

// The statements of `ddl` (one section of a backup's DDL for `schema`), each without its
// terminating semicolon, ready to run one by one: CREATE SCHEMA becomes CREATE SCHEMA IF NOT
// EXISTS (the schema itself is never dropped: extensions live in it), and pg_dump's
// `SET statement_timeout/lock_timeout/idle_in_transaction_session_timeout = 0` are left out
// (they would lift the restore's own lock timeout for the rest of its transaction).
// kCorruption naming `entry` and the statement when one is not pg_dump's DDL of `schema`.
[[nodiscard]] Result<std::vector<std::string>> replay_statements(const std::string& ddl,
                                                                 const std::string& schema,
                                                                 std::string_view entry);

}  // namespace flinkbr::source::postgres
