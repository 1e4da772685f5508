#include "store/database.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "common/private_file.h"

namespace flinkbr::store {

namespace {

constexpr const char* kDatabaseField = "server.database";
constexpr const char* kPasswordFileField = "server.database_password_file";

std::string where_the_password_goes() {
  return std::string("the password goes in the environment variable ") + kDatabasePasswordEnv +
         " or in the file named by " + kPasswordFileField +
         " (mode 0600, owned by the daemon's user), never in the configuration";
}

// The password part of a URI's user info (postgresql://user:PASSWORD@host/...), if any, so
// that it can be cut from libpq's syntax messages.
std::string uri_password(const std::string& uri) {
  const size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return {};
  const size_t start = scheme + 3;
  const size_t at = uri.find('@', start);
  const size_t slash = uri.find('/', start);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return {};
  const size_t colon = uri.find(':', start);
  if (colon == std::string::npos || colon > at) return {};
  return uri.substr(colon + 1, at - colon - 1);
}

std::string without(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at))
    text.replace(at, secret.size(), "********");
  return text;
}

struct OptionsFree {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};

Result<std::string> read_password_file(const std::string& path) {
  return read_private_file(path, kPasswordFileField, "the database password file");
}

}  // namespace

Result<std::optional<PostgresTarget>> postgres_target(const config::ServerConfig& server,
                                                      const char* env_password) {
  if (server.database.empty()) return std::nullopt;
  const std::string& uri = server.database;
  if (!uri.starts_with("postgresql://") && !uri.starts_with("postgres://"))
    return invalid_argument(kDatabaseField,
                            "expected a PostgreSQL URI: postgresql://user@host:port/dbname");
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, OptionsFree> options(PQconninfoParse(uri.c_str(), &err));
  if (!options) {
    std::string detail = err ? err : "out of memory";
    PQfreemem(err);
    while (!detail.empty() && detail.back() == '\n') detail.pop_back();
    return invalid_argument(kDatabaseField, "not a valid PostgreSQL URI (" +
                                                without(detail, uri_password(uri)) +
                                                "); expected postgresql://user@host:port/dbname");
  }
  std::string user, host, port, dbname;
  for (PQconninfoOption* o = options.get(); o->keyword; ++o) {
    const std::string key = o->keyword;
    const std::string value = o->val ? o->val : "";
    if (key == "password" && !value.empty())
      return invalid_argument(kDatabaseField,
                              "the URI holds a password; " + where_the_password_goes());
    if (key == "user") user = value;
    if (key == "host") host = value;
    if (key == "port") port = value;
    if (key == "dbname") dbname = value;
  }

  PostgresTarget target{.conninfo = uri};
  const bool from_env = env_password && *env_password;
  if (from_env && !server.database_password_file.empty())
    return invalid_argument(kPasswordFileField,
                            std::string("the database password is given twice: in ") +
                                kDatabasePasswordEnv + " and in " + kPasswordFileField +
                                "; keep one");
  if (from_env) target.password = env_password;
  if (!server.database_password_file.empty())
    target.password = TRY(read_password_file(server.database_password_file));
  target.description = (user.empty() ? "" : user + "@") + (host.empty() ? "localhost" : host) +
                       (port.empty() ? "" : ":" + port) + "/" + dbname;
  return target;
}

Result<std::unique_ptr<Store>> open_store(const config::ServerConfig& server) {
  auto target = TRY(postgres_target(server, std::getenv(kDatabasePasswordEnv)));
  if (!target) {
    const std::string path = (std::filesystem::path(server.state_dir) / "flinkbr.db").string();
    spdlog::info("state database: SQLite {}", path);
    return Store::open_sqlite(path);
  }
  spdlog::info("state database: PostgreSQL {} (schema {})", target->description,
               kDefaultPostgresSchema);
  return Store::open_postgres(target->conninfo, target->password);
}

}  // namespace flinkbr::store
