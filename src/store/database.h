// Which state database the daemon uses, from `server.database`: absent, SQLite in
// <state_dir>/flinkbr.db; set, PostgreSQL at that URI in schema "flinkbr". The password never
// comes from the YAML: a URI holding one is refused; it comes from the environment
// (FLINKBR_DATABASE_PASSWORD) or from `server.database_password_file` (mode 0600 or stricter,
// owned by the daemon's user). The password appears in no message this module makes.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "store/store.h"

namespace flinkbr::store {

inline constexpr const char* kDatabasePasswordEnv = "FLINKBR_DATABASE_PASSWORD";

struct PostgresTarget {
  std::string conninfo;     // the URI, as configured (no password)
  std::string password;     // empty: none given (libpq may still use ~/.pgpass)
  std::string description;  // "user@host:port/db" for logs, never with the password
};

// Checks `server.database` (PQconninfoParse) and reads the password from `env_password` (the
// value of FLINKBR_DATABASE_PASSWORD, null when unset) or the password file. nullopt: SQLite.
// Refusals are kInvalidArgument naming server.database or server.database_password_file.
[[nodiscard]] Result<std::optional<PostgresTarget>> postgres_target(
    const config::ServerConfig& server, const char* env_password);

// Opens the configured store (reads FLINKBR_DATABASE_PASSWORD from the environment).
[[nodiscard]] Result<std::unique_ptr<Store>> open_store(const config::ServerConfig& server);

}  // namespace flinkbr::store
