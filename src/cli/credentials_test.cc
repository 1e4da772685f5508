#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/cli.h"

namespace flinkbr::cli {
namespace {

namespace fs = std::filesystem;

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flinkbr-cred-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

TEST_F(CredentialsTest, SaveCreatesPrivateDirAndFile) {
  const fs::path file = root_ / "a" / "flinkbr" / "credentials.json";
  ASSERT_TRUE(save_credentials(file, {"http://h:8080", "abc123", "admin"}));
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_EQ(mode_of(file.parent_path()), 0700u);
  EXPECT_EQ(mode_of(file.parent_path().parent_path()), 0700u);
  auto c = load_credentials(file);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->server, "http://h:8080");
  EXPECT_EQ((*c)->token, "abc123");
  EXPECT_EQ((*c)->user, "admin");
  // No temporary file is left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(file.parent_path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST_F(CredentialsTest, SaveReplacesAndStaysPrivate) {
  const fs::path file = root_ / "credentials.json";
  {
    std::ofstream f(file);
    f << "{}";
  }
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  ASSERT_TRUE(save_credentials(file, {"s", "t2", "u"}));
  EXPECT_EQ(mode_of(file), 0600u);  // a new file, not the old one rewritten
  EXPECT_EQ((*load_credentials(file))->token, "t2");
}

TEST_F(CredentialsTest, MissingIsNullopt) {
  auto c = load_credentials(root_ / "none.json");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->has_value());
}

TEST_F(CredentialsTest, DamagedFileIsAnError) {
  for (const char* text : {"not json", "[]", R"({"token": 5})", R"({"server":"x"})"}) {
    const fs::path file = root_ / "credentials.json";
    std::ofstream(file) << text;
    auto c = load_credentials(file);
    ASSERT_FALSE(c) << text;
    EXPECT_NE(c.error().message.find("flinkbr login"), std::string::npos);
  }
}

TEST_F(CredentialsTest, Remove) {
  const fs::path file = root_ / "credentials.json";
  ASSERT_TRUE(save_credentials(file, {"s", "t", "u"}));
  EXPECT_TRUE(remove_credentials(file));
  EXPECT_FALSE(fs::exists(file));
  EXPECT_TRUE(remove_credentials(file));
}

TEST_F(CredentialsTest, PathFromEnvironment) {
  const char* old_dir = std::getenv("FLINKBR_CONFIG_DIR");
  std::string saved = old_dir ? old_dir : "";
  ::setenv("FLINKBR_CONFIG_DIR", root_.c_str(), 1);
  EXPECT_EQ(*credentials_path(), (root_ / "credentials.json").string());
  ::unsetenv("FLINKBR_CONFIG_DIR");
  const char* home = std::getenv("HOME");
  if (home && *home) {
    EXPECT_EQ(*credentials_path(), std::string(home) + "/.config/flinkbr/credentials.json");
  }
  if (old_dir) ::setenv("FLINKBR_CONFIG_DIR", saved.c_str(), 1);
}

TEST(ReadPassword, FirstLineOfStdin) {
  std::istringstream in("s3cret pass\r\nsecond\n");
  std::ostringstream out, err;
  Io io{.in = in, .out = out, .err = err};
  auto p = read_password(io, "Password: ");
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, "s3cret pass");
  EXPECT_EQ(err.str(), "");  // no prompt when stdin is not a terminal
}

TEST(ReadPassword, EmptyIsRefused) {
  std::istringstream empty("");
  std::ostringstream out, err;
  Io io{.in = empty, .out = out, .err = err};
  EXPECT_EQ(read_password(io, "").error().field, "password");
  std::istringstream blank("\n");
  Io io2{.in = blank, .out = out, .err = err};
  EXPECT_EQ(read_password(io2, "").error().field, "password");
}

}  // namespace
}  // namespace flinkbr::cli
