#include "store/database.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace flinkbr::store {
namespace {

namespace fs = std::filesystem;

class DatabaseConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "flinkbr-dbconf-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write_file(const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  fs::path dir_;
};

constexpr const char* kSecret = "hunter2-Secret";

TEST_F(DatabaseConfigTest, AbsentMeansSqlite) {
  auto t = postgres_target({}, kSecret);
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->has_value());
}

TEST_F(DatabaseConfigTest, UriWithoutPasswordIsAccepted) {
  config::ServerConfig s;
  s.database = "postgresql://flinkbr@db.example:5433/state";
  auto t = postgres_target(s, nullptr);
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_TRUE(t->has_value());
  EXPECT_EQ((*t)->conninfo, s.database);
  EXPECT_EQ((*t)->password, "");
  EXPECT_EQ((*t)->description, "flinkbr@db.example:5433/state");
  auto with_env = postgres_target(s, kSecret);
  ASSERT_TRUE(with_env);
  EXPECT_EQ((**with_env).password, kSecret);
  EXPECT_EQ((**with_env).description.find(kSecret), std::string::npos);
}

TEST_F(DatabaseConfigTest, PasswordInTheUriIsRefused) {
  for (const std::string& uri :
       {std::string("postgresql://flinkbr:") + kSecret + "@db/state",
        std::string("postgresql://flinkbr@db/state?password=") + kSecret,
        std::string("postgresql://flinkbr:") + kSecret + "@db/state?no_such_option=1"}) {
    config::ServerConfig s;
    s.database = uri;
    auto t = postgres_target(s, nullptr);
    ASSERT_FALSE(t) << uri;
    EXPECT_EQ(t.error().code, Errc::kInvalidArgument);
    EXPECT_EQ(t.error().field, "server.database");
    EXPECT_EQ(t.error().message.find(kSecret), std::string::npos) << t.error().message;
    if (uri.find("no_such_option") == std::string::npos) {
      EXPECT_NE(t.error().message.find("FLINKBR_DATABASE_PASSWORD"), std::string::npos);
      EXPECT_NE(t.error().message.find("server.database_password_file"), std::string::npos);
    }
  }
}

TEST_F(DatabaseConfigTest, NotAUriIsRefused) {
  config::ServerConfig s;
  s.database = "host=db dbname=state";
  auto t = postgres_target(s, nullptr);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().field, "server.database");
  EXPECT_EQ(t.error().message, "expected a PostgreSQL URI: postgresql://user@host:port/dbname");
}

TEST_F(DatabaseConfigTest, PasswordFile) {
  config::ServerConfig s;
  s.database = "postgresql://flinkbr@db/state";
  s.database_password_file = write_file("pw", std::string(kSecret) + "\n", 0600);
  auto t = postgres_target(s, nullptr);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ((**t).password, kSecret);  // without the end of line

  // Readable by others: refused, naming the file.
  ::chmod(s.database_password_file.c_str(), 0640);
  auto open = postgres_target(s, nullptr);
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error().field, "server.database_password_file");
  EXPECT_EQ(open.error().message, "the database password file " + s.database_password_file +
                                      " has mode 0640; it must be readable by its owner only "
                                      "(chmod 600 " +
                                      s.database_password_file + ")");
  EXPECT_EQ(open.error().message.find(kSecret), std::string::npos);

  // Given twice.
  ::chmod(s.database_password_file.c_str(), 0400);
  auto twice = postgres_target(s, "other");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().field, "server.database_password_file");

  // Missing.
  s.database_password_file = (dir_ / "nope").string();
  auto missing = postgres_target(s, nullptr);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find(s.database_password_file), std::string::npos);
}

TEST_F(DatabaseConfigTest, PasswordFileOfAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the file to another user";
  config::ServerConfig s;
  s.database = "postgresql://flinkbr@db/state";
  s.database_password_file = write_file("pw", kSecret, 0600);
  ASSERT_EQ(::chown(s.database_password_file.c_str(), 65534, 65534), 0);
  auto t = postgres_target(s, nullptr);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().field, "server.database_password_file");
  EXPECT_EQ(t.error().message, "the database password file " + s.database_password_file +
                                   " is owned by uid 65534, not by the daemon's user (uid 0)");
}

}  // namespace
}  // namespace flinkbr::store
