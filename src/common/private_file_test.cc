#include "common/private_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace flinkbr {
namespace {

namespace fs = std::filesystem;

class PrivateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "flinkbr-private-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }
  Result<std::string> read(const std::string& path) {
    return read_private_file(path, "server.webhook_secret_file", "the webhook secret file");
  }
  fs::path dir_;
};

TEST_F(PrivateFileTest, ReadsAFileOnlyItsOwnerCanReadWithoutTheLineBreak) {
  auto s = read(write("secret", "s3cr3t\n", 0600));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(*s, "s3cr3t");
  s = read(write("ro", "s3cr3t", 0400));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(*s, "s3cr3t");
}

TEST_F(PrivateFileTest, RefusesAFileThatOthersCanReadNamingItAndNeverShowingTheSecret) {
  for (mode_t mode : {0640, 0604, 0644, 0660}) {
    const std::string path = write("secret", "s3cr3t\n", mode);
    auto s = read(path);
    ASSERT_FALSE(s) << std::oct << mode;
    EXPECT_EQ(s.error().code, Errc::kInvalidArgument);
    EXPECT_EQ(s.error().field, "server.webhook_secret_file");
    char m[8];
    std::snprintf(m, sizeof m, "%04o", static_cast<unsigned>(mode));
    EXPECT_EQ(s.error().message, "the webhook secret file " + path + " has mode " + m +
                                     "; it must be readable by its owner only (chmod 600 " + path +
                                     ")");
    EXPECT_EQ(s.error().message.find("s3cr3t"), std::string::npos);
  }
}

TEST_F(PrivateFileTest, RefusesMissingEmptyAndNonRegularFiles) {
  auto s = read((dir_ / "missing").string());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "cannot open the webhook secret file " +
                                   (dir_ / "missing").string() + ": No such file or directory");
  const std::string empty = write("empty", "\n", 0600);
  EXPECT_EQ(read(empty).error().message, "the webhook secret file " + empty + " is empty");
  fs::create_directory(dir_ / "d");
  EXPECT_EQ(read((dir_ / "d").string()).error().message,
            "the webhook secret file " + (dir_ / "d").string() + " is not a regular file");
}

TEST_F(PrivateFileTest, RefusesAFileOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "changing a file's owner needs root";
  const std::string path = write("secret", "s3cr3t\n", 0600);
  ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  auto s = read(path);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "the webhook secret file " + path +
                                   " is owned by uid 65534, not by the daemon's user (uid 0)");
}

}  // namespace
}  // namespace flinkbr
