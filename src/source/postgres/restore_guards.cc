#include "source/postgres/restore_guards.h"

#include <algorithm>

namespace flinkbr::source::postgres {

Result<std::vector<OutsideForeignKey>> outside_foreign_keys(Session& db, const std::string& schema,
                                                            const std::vector<std::string>& tables,
                                                            bool whole_schema) {
  std::string list = text_array(tables);
  auto r = TRY(db.exec(
      "SELECT cn.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid), k.oid "
      "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
      "JOIN pg_namespace cn ON cn.oid = c.relnamespace JOIN pg_class p ON p.oid = k.confrelid "
      "JOIN pg_namespace pn ON pn.oid = p.relnamespace "
      "WHERE k.contype = 'f' AND pn.nspname = $1 AND p.relname = ANY($2::text[]) "
      "AND NOT (cn.nspname = $1 AND ($3 OR c.relname = ANY($2::text[]))) "
      "ORDER BY cn.nspname COLLATE \"C\", c.relname COLLATE \"C\", k.conname COLLATE \"C\"",
      {schema, list, whole_schema ? "true" : "false"}));
  std::vector<OutsideForeignKey> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    std::string ns = PQgetvalue(r.get(), i, 0), rel = PQgetvalue(r.get(), i, 1);
    out.push_back({PQgetvalue(r.get(), i, 4), quote_ident(ns) + "." + quote_ident(rel),
                   PQgetvalue(r.get(), i, 2), PQgetvalue(r.get(), i, 3),
                   ns + "." + rel + "." + PQgetvalue(r.get(), i, 2)});
  }
  return out;
}

Result<std::vector<UserTrigger>> user_triggers(Session& db, const std::string& schema,
                                               const std::vector<std::string>& tables) {
  auto r = TRY(
      db.exec("SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t "
              "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
              "WHERE NOT t.tgisinternal AND n.nspname = $1 "
              "ORDER BY c.relname COLLATE \"C\", t.tgname COLLATE \"C\"",
              {schema}));
  std::vector<UserTrigger> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    std::string rel = PQgetvalue(r.get(), i, 0);
    if (std::find(tables.begin(), tables.end(), rel) == tables.end()) continue;
    out.push_back({quote_ident(schema) + "." + quote_ident(rel), PQgetvalue(r.get(), i, 1),
                   PQgetvalue(r.get(), i, 2)[0]});
  }
  return out;
}

std::string enable_clause(char state) {
  switch (state) {
    case 'D':
      return "DISABLE TRIGGER ";
    case 'R':
      return "ENABLE REPLICA TRIGGER ";
    case 'A':
      return "ENABLE ALWAYS TRIGGER ";
    default:
      return "ENABLE TRIGGER ";
  }
}

}  // namespace flinkbr::source::postgres
