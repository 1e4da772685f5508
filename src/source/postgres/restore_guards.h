// What a postgres restore sets aside while the rows go back, and puts back afterwards, inside
// its one transaction: the foreign keys of other tables that point into the restored tables,
// and the user triggers of the restored tables.
//
// Internal to source/postgres/. Not thread-safe (one Session).
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "source/postgres/pg_session.h"

namespace flinkbr::source::postgres {

// A foreign key of a table outside the restored tables (another schema, or a table of the
// schema that the source does not list) that points into them. TRUNCATE refuses such a key,
// and the rows it checks may go away: the restore drops it and adds it again at the end, which
// checks every row once more (a key created NOT VALID stays NOT VALID).
struct OutsideForeignKey {
  std::string oid;
  std::string table;  // schema-qualified, quoted
  std::string name;
  std::string definition;  // pg_get_constraintdef
  std::string label;       // schema.table.name, for messages
};

// `whole_schema`: every table of the schema that is not restored goes away (the schema is
// re-created), so only the keys of other schemas count.
[[nodiscard]] Result<std::vector<OutsideForeignKey>> outside_foreign_keys(
    Session& db, const std::string& schema, const std::vector<std::string>& tables,
    bool whole_schema);

// A user trigger of a restored table and how it was enabled (pg_trigger.tgenabled: 'O' on
// origin, 'D' disabled, 'R' replica only, 'A' always).
struct UserTrigger {
  std::string table;  // schema-qualified, quoted
  std::string name;
  char enabled = 'O';
};

[[nodiscard]] Result<std::vector<UserTrigger>> user_triggers(
    Session& db, const std::string& schema, const std::vector<std::string>& tables);

// The ALTER TABLE clause that sets a trigger back to `state` ("ENABLE ALWAYS TRIGGER ").
std::string enable_clause(char state);

}  // namespace flinkbr::source::postgres
