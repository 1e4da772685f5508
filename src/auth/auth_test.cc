#include "auth/auth.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <sodium.h>

#include "io/layers.h"

namespace flinkbr::auth {
namespace {

namespace fs = std::filesystem;
using store::Role;

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "flinkbr-auth-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    open(3600);
  }
  void TearDown() override {
    auth_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  void open(int ttl) {
    auth_.reset();
    store_.reset();
    auto s = store::Store::open((dir_ / "flinkbr.db").string());
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
    auth_ = std::make_unique<Auth>(*store_, ttl);
  }
  std::string password_file() const { return (dir_ / "initial-admin-password").string(); }
  static std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Auth> auth_;
};

TEST_F(AuthTest, HashAndVerify) {
  auto h1 = Auth::hash_password("correct horse");
  auto h2 = Auth::hash_password("correct horse");
  ASSERT_TRUE(h1 && h2);
  EXPECT_TRUE(h1->starts_with("$argon2id$")) << *h1;
  EXPECT_NE(*h1, *h2);  // salted
  EXPECT_TRUE(Auth::verify_password(*h1, "correct horse"));
  EXPECT_TRUE(Auth::verify_password(*h2, "correct horse"));
  EXPECT_FALSE(Auth::verify_password(*h1, "correct horsE"));
  EXPECT_FALSE(Auth::verify_password("not a hash", "correct horse"));
  // OWASP's Argon2id setting, recorded in the hash itself: 19 MiB, 2 passes, 1 lane.
  EXPECT_NE(h1->find("$m=19456,t=2,p=1$"), std::string::npos) << *h1;
}

// A user whose hash was made by an older flinkbr (libsodium's interactive limits: 64 MiB per
// login) still logs in, and that login replaces the hash with one at today's setting.
TEST_F(AuthTest, LoginReplacesAHashOfOlderParameters) {
  const std::string password = "an older password";
  char old_hash[crypto_pwhash_STRBYTES];
  ASSERT_EQ(
      crypto_pwhash_str(old_hash, password.data(), password.size(),
                        crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE),
      0);
  ASSERT_NE(std::string(old_hash).find("$m=65536,"), std::string::npos) << old_hash;
  ASSERT_TRUE(store_->create_user("old", Role::kOperator, old_hash));

  EXPECT_FALSE(auth_->login("old", "a wrong password"));
  EXPECT_EQ(store_->get_user("old")->password_hash, old_hash);  // unchanged by a failed login

  ASSERT_TRUE(auth_->login("old", password));
  const std::string now = store_->get_user("old")->password_hash;
  EXPECT_NE(now, old_hash);
  EXPECT_NE(now.find("$m=19456,t=2,p=1$"), std::string::npos) << now;
  EXPECT_TRUE(auth_->login("old", password));
  EXPECT_EQ(store_->get_user("old")->password_hash, now);  // already current: kept
}

TEST_F(AuthTest, BootstrapWritesThePasswordOnce) {
  auto first = auth_->bootstrap(dir_.string());
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(first->has_value());
  const std::string password = **first;
  EXPECT_EQ(password.size(), 20u);
  for (char c : password) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << c;

  struct stat st {};
  ASSERT_EQ(stat(password_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(read(password_file()), password + "\n");

  auto admin = store_->get_user("admin");
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->role, Role::kAdministrator);
  EXPECT_NE(admin->password_hash, password);
  EXPECT_TRUE(auth_->login("admin", password));

  auto second = auth_->bootstrap(dir_.string());
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->has_value());
  EXPECT_EQ(read(password_file()), password + "\n");
  EXPECT_EQ(*store_->count_users(), 1);
}

TEST_F(AuthTest, BootstrapReplacesAFileLeftByAnInterruptedStart) {
  {
    std::ofstream out(password_file());
    out << "stale\n";
  }
  ASSERT_EQ(chmod(password_file().c_str(), 0644), 0);
  auto pw = auth_->bootstrap(dir_.string());
  ASSERT_TRUE(pw) << pw.error().message;
  ASSERT_TRUE(pw->has_value());
  EXPECT_EQ(read(password_file()), **pw + "\n");
  struct stat st {};
  ASSERT_EQ(stat(password_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  // No temporary file is left behind.
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir_))
    if (e.path().filename().string().starts_with("initial-admin-password")) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST_F(AuthTest, BootstrapIntoAMissingDirectoryCreatesNoUser) {
  auto pw = auth_->bootstrap((dir_ / "missing").string());
  ASSERT_FALSE(pw);
  EXPECT_EQ(pw.error().code, Errc::kIOError);
  EXPECT_EQ(*store_->count_users(), 0);
}

TEST_F(AuthTest, Login) {
  ASSERT_TRUE(auth_->create_user("alice", Role::kOperator, "s3cret-password"));
  auto token = auth_->login("alice", "s3cret-password");
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(token->size(), 64u);
  EXPECT_EQ(token->find_first_not_of("0123456789abcdef"), std::string::npos);
  auto other = auth_->login("alice", "s3cret-password");
  ASSERT_TRUE(other);
  EXPECT_NE(*token, *other);

  auto user = auth_->authenticate(*token);
  ASSERT_TRUE(user) << user.error().message;
  EXPECT_EQ(user->name, "alice");
  EXPECT_EQ(user->role, Role::kOperator);

  auto bad = auth_->login("alice", "wrong-password");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kUnauthenticated);
  EXPECT_EQ(bad.error().message, "wrong user name or password");
  auto unknown = auth_->login("mallory", "s3cret-password");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::kUnauthenticated);
  EXPECT_EQ(unknown.error().message, "wrong user name or password");
}

TEST_F(AuthTest, InvalidTokensAndLogout) {
  ASSERT_TRUE(auth_->create_user("alice", Role::kViewer, "s3cret-password"));
  for (const std::string& t : {std::string(), std::string("abc"), std::string(64, 'a')}) {
    auto r = auth_->authenticate(t);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::kUnauthenticated);
    EXPECT_EQ(r.error().message, "invalid token");
  }
  auto token = auth_->login("alice", "s3cret-password");
  ASSERT_TRUE(token);
  ASSERT_TRUE(auth_->authenticate(*token));
  ASSERT_TRUE(auth_->logout(*token));
  auto after = auth_->authenticate(*token);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().message, "invalid token");
}

TEST_F(AuthTest, StoredHashIsNotTheToken) {
  ASSERT_TRUE(auth_->create_user("alice", Role::kViewer, "s3cret-password"));
  auto token = auth_->login("alice", "s3cret-password");
  ASSERT_TRUE(token);
  EXPECT_EQ(store_->get_token(*token).error().code, Errc::kNotFound);
  auto stored = store_->get_token(io::sha256_hex(*token));
  ASSERT_TRUE(stored);
  EXPECT_NE(stored->token_hash, *token);
  EXPECT_EQ(stored->expires_at - stored->created_at, 3600);
}

TEST_F(AuthTest, TokenExpires) {
  open(1);
  ASSERT_TRUE(auth_->create_user("alice", Role::kViewer, "s3cret-password"));
  auto token = auth_->login("alice", "s3cret-password");
  ASSERT_TRUE(token);
  ASSERT_TRUE(auth_->authenticate(*token));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto expired = auth_->authenticate(*token);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, Errc::kUnauthenticated);
  EXPECT_EQ(expired.error().message, "the session has expired; log in again");

  // The next login removes expired tokens.
  ASSERT_TRUE(auth_->login("alice", "s3cret-password"));
  EXPECT_EQ(store_->get_token(io::sha256_hex(*token)).error().code, Errc::kNotFound);
}

TEST_F(AuthTest, TokensSurviveReopeningTheStore) {
  ASSERT_TRUE(auth_->create_user("alice", Role::kAdministrator, "s3cret-password"));
  auto token = auth_->login("alice", "s3cret-password");
  ASSERT_TRUE(token);
  open(3600);
  auto user = auth_->authenticate(*token);
  ASSERT_TRUE(user) << user.error().message;
  EXPECT_EQ(user->name, "alice");
}

TEST_F(AuthTest, CreateUserValidation) {
  auto expect_field = [&](const std::string& name, const std::string& password,
                          const std::string& field) {
    auto r = auth_->create_user(name, Role::kViewer, password);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
    EXPECT_EQ(r.error().field, field);
    EXPECT_NE(r.error().message.find(field == "name" ? "user name" : "password"), std::string::npos)
        << r.error().message;
  };
  expect_field("", "long-enough", "name");
  expect_field("has space", "long-enough", "name");
  expect_field("slash/", "long-enough", "name");
  expect_field(std::string(65, 'a'), "long-enough", "name");
  expect_field("alice", "1234567", "password");
  expect_field("alice", std::string(1025, 'x'), "password");
  // Characters, not bytes: eight two-byte characters are enough.
  EXPECT_TRUE(auth_->create_user("bob", Role::kViewer, "éééééééé"));
  EXPECT_TRUE(auth_->create_user(std::string(64, 'c'), Role::kViewer, std::string(1024, 'x')));
  EXPECT_TRUE(auth_->create_user("a.b_c-D9", Role::kViewer, "12345678"));

  auto dup = auth_->create_user("bob", Role::kViewer, "another-password");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Errc::kAlreadyExists);
  EXPECT_EQ(*store_->count_users(), 3);
}

TEST_F(AuthTest, ReservedUserNamesAreRefusedAtCreation) {
  for (const std::string name : {".", ".."}) {
    auto r = auth_->create_user(name, Role::kViewer, "long-enough");
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().field, "name");
    EXPECT_EQ(r.error().message, "the user name '" + name +
                                     "' is reserved (it cannot stand in a URL path); choose "
                                     "another name");
  }
  for (const std::string name : {"anonymous", "Anonymous"}) {
    auto r = auth_->create_user(name, Role::kAdministrator, "long-enough");
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().field, "name");
    EXPECT_EQ(r.error().message,
              "the user name '" + name +
                  "' is reserved (the audit log's name for requests without a user); choose "
                  "another name");
  }
  EXPECT_EQ(*store_->count_users(), 0);
  EXPECT_TRUE(auth_->create_user("...", Role::kViewer, "long-enough"));  // not reserved
  EXPECT_TRUE(auth_->create_user("anonymous2", Role::kViewer, "long-enough"));
}

TEST(Allows, RoleOrder) {
  EXPECT_TRUE(allows(Role::kAdministrator, Role::kOperator));
  EXPECT_TRUE(allows(Role::kOperator, Role::kOperator));
  EXPECT_FALSE(allows(Role::kViewer, Role::kOperator));
  EXPECT_FALSE(allows(Role::kOperator, Role::kAdministrator));
}

// ---- Login throttling (issue 16) -------------------------------------------------------------

TEST_F(AuthTest, TheEleventhAttemptAfterTenFailuresIsRefusedForKnownAndUnknownUsersAlike) {
  ASSERT_TRUE(auth_->create_user("alice", Role::kOperator, "s3cret-password"));
  for (const std::string user : {"alice", "nobody"}) {
    for (int i = 0; i < LoginThrottle::kFreeFailures; ++i) {
      auto r = auth_->login(user, "a wrong password", "192.0.2." + std::to_string(i));
      ASSERT_FALSE(r);
      // One answer for both: the name's existence does not show.
      EXPECT_EQ(r.error().code, Errc::kUnauthenticated) << user;
      EXPECT_EQ(r.error().message, "wrong user name or password") << user;
    }
    // Even the right password (alice's) is not looked at now.
    auto r = auth_->login(user, "s3cret-password", "192.0.2.200");
    ASSERT_FALSE(r) << user;
    EXPECT_EQ(r.error().code, Errc::kResourceExhausted) << user;
    EXPECT_EQ(r.error().retry_after_seconds, 5) << user;
    EXPECT_EQ(r.error().message, "too many failed logins; try again in 5 s") << user;
  }
}

TEST_F(AuthTest, TenFailuresFromOneAddressBlockThatAddressOnly) {
  ASSERT_TRUE(auth_->create_user("alice", Role::kOperator, "s3cret-password"));
  for (int i = 0; i < LoginThrottle::kFreeFailures; ++i)
    ASSERT_FALSE(auth_->login("user" + std::to_string(i), "guess", "198.51.100.7"));
  auto r = auth_->login("alice", "s3cret-password", "198.51.100.7");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kResourceExhausted);
  EXPECT_TRUE(auth_->login("alice", "s3cret-password", "198.51.100.8"));
}

TEST_F(AuthTest, ASuccessResetsTheCount) {
  ASSERT_TRUE(auth_->create_user("alice", Role::kOperator, "s3cret-password"));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < LoginThrottle::kFreeFailures - 1; ++i)
      ASSERT_FALSE(auth_->login("alice", "guess", "203.0.113.1"));
    ASSERT_TRUE(auth_->login("alice", "s3cret-password", "203.0.113.1")) << "round " << round;
  }
}

TEST(LoginThrottle, TheDelayGrowsWithEachFailurePastTheLimitAndASuccessEndsIt) {
  using namespace std::chrono_literals;
  LoginThrottle t;
  auto now = LoginThrottle::Clock::time_point() + 1000h;
  for (int i = 0; i < LoginThrottle::kFreeFailures - 1; ++i) {
    EXPECT_FALSE(t.blocked("bob", "", now));
    t.failed("bob", "", now);
  }
  EXPECT_FALSE(t.blocked("bob", "", now));
  t.failed("bob", "", now);  // the tenth
  EXPECT_EQ(t.blocked("bob", "", now), 5s);
  EXPECT_EQ(t.blocked("bob", "", now + 4500ms), 1s);  // rounded up
  EXPECT_FALSE(t.blocked("bob", "", now + 5s));
  // One more attempt after the wait; it fails: twice the delay, and so on up to 15 minutes.
  auto d = 5s;
  for (int i = 0; i < 12; ++i) {
    now += d;
    t.failed("bob", "", now);
    d = std::min<std::chrono::seconds>(d * 2, 15min);
    EXPECT_EQ(t.blocked("bob", "", now), d) << "failure " << 11 + i;
  }
  EXPECT_EQ(d, 15min);
  EXPECT_FALSE(t.blocked("alice", "", now));  // per user
  t.succeeded("bob", "");
  EXPECT_FALSE(t.blocked("bob", "", now));
}

TEST(LoginThrottle, ManyNamesDoNotGrowItWithoutBound) {
  LoginThrottle t;
  auto now = LoginThrottle::Clock::time_point() + std::chrono::hours(1000);
  for (size_t i = 0; i < LoginThrottle::kMaxEntries + 100; ++i) {
    now += std::chrono::milliseconds(1);
    t.failed("name" + std::to_string(i), "", now);
  }
  EXPECT_LE(t.size(), LoginThrottle::kMaxEntries);
  // The newest stay.
  for (int i = 1; i < LoginThrottle::kFreeFailures; ++i)
    t.failed("name" + std::to_string(LoginThrottle::kMaxEntries + 99), "", now);
  EXPECT_TRUE(t.blocked("name" + std::to_string(LoginThrottle::kMaxEntries + 99), "", now));
}

}  // namespace
}  // namespace flinkbr::auth
