// Test support: a throwaway PostgreSQL 15 server (Debian's `postgresql` package): initdb into a
// fresh directory, a free loopback port, stopped with SIGINT. As root, initdb and postgres run
// as the `postgres` user (they refuse root). Header-only; used by the postgres source's tests
// and the end-to-end tests.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/ports.h"

namespace flinkbr::testsupport {

inline constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Forks and execs argv as the postgres user when we are root, output into `log`.
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  uid_t uid = 0;
  gid_t gid = 0;
  bool drop = ::geteuid() == 0;
  if (drop) {
    passwd* pw = ::getpwnam("postgres");
    if (!pw) return -1;
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  if (drop && (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0))
    ::_exit(126);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  ::_exit(127);
}

// One throwaway server per test process, shared by the tests of the suite.
class PgServer {
 public:
  // Empty on success, else the reason.
  std::string start() {
    std::string bin = kPgBin;
    if (!std::filesystem::exists(bin + "/initdb") || !std::filesystem::exists(bin + "/postgres"))
      return "PostgreSQL 15 server binaries not found in " + bin +
             " (install the Debian package postgresql: scripts/install-deps.sh)";
    std::string tmpl = (std::filesystem::temp_directory_path() / "flinkbr-pg-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return "mkdtemp failed";
    dir_ = tmpl;
    if (::geteuid() == 0) {
      passwd* pw = ::getpwnam("postgres");
      if (!pw) return "no 'postgres' user to run the server as (package postgresql creates it)";
      if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) return "chown of " + dir_ + " failed";
    }
    ::chmod(dir_.c_str(), 0700);
    std::string log = dir_ + "/server.log";
    pid_t init = spawn({bin + "/initdb", "-D", dir_ + "/data", "-A", "trust", "-U", "postgres",
                        "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
                       log);
    int status = 0;
    if (init < 0 || ::waitpid(init, &status, 0) != init || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
      return "initdb failed: " + slurp(log);
    port_ = free_port();
    return launch();
  }

  // Stops the server (SIGINT: fast shutdown, every session ended) and starts it again on the
  // same data directory and port. Empty on success, else the reason.
  std::string restart() {
    if (pid_ > 0) {
      ::kill(pid_, SIGINT);
      int status;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    return launch();
  }

  int port() const { return port_; }

 private:
  std::string launch() {
    std::string bin = kPgBin;
    std::string log = dir_ + "/server.log";
    int status = 0;
    pid_ = spawn({bin + "/postgres", "-D", dir_ + "/data", "-c", "listen_addresses=127.0.0.1", "-k",
                  dir_, "-p", std::to_string(port_), "-c", "fsync=off", "-c",
                  "synchronous_commit=off", "-c", "full_page_writes=off"},
                 log);
    if (pid_ < 0) return "cannot start postgres";
    std::string conninfo = dsn("postgres");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (PQping(conninfo.c_str()) != PQPING_OK) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "postgres exited: " + slurp(log);
      }
      if (std::chrono::steady_clock::now() > deadline) return "postgres not ready: " + slurp(log);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "";
  }

 public:
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGINT);
      int status;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  std::string dsn(const std::string& db) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + db + " user=postgres";
  }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

using Rows = std::vector<std::vector<std::string>>;

// Runs SQL; rows as text ("<NULL>" for NULL). Records a failure on error.
inline Rows sql(const std::string& dsn, const std::string& query) {
  PGconn* c = PQconnectdb(dsn.c_str());
  Rows rows;
  if (PQstatus(c) != CONNECTION_OK) {
    ADD_FAILURE() << "connect: " << PQerrorMessage(c);
    PQfinish(c);
    return rows;
  }
  PGresult* r = PQexec(c, query.c_str());
  auto st = PQresultStatus(r);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    ADD_FAILURE() << query << ": " << PQresultErrorMessage(r);
  } else {
    for (int i = 0; i < PQntuples(r); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < PQnfields(r); ++j)
        row.push_back(PQgetisnull(r, i, j) ? "<NULL>" : PQgetvalue(r, i, j));
      rows.push_back(std::move(row));
    }
  }
  PQclear(r);
  PQfinish(c);
  return rows;
}

}  // namespace flinkbr::testsupport
