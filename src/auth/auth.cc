#include "auth/auth.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <mutex>
#include <utility>

#include "common/fd.h"
#include "io/layers.h"

namespace flinkbr::auth {

namespace {

// One sentence for an unknown user and a wrong password alike: the answer must not tell which.
constexpr std::string_view kWrongCredentials = "wrong user name or password";
constexpr std::string_view kInvalidToken = "invalid token";
constexpr std::string_view kExpiredToken = "the session has expired; log in again";
constexpr std::string_view kPasswordFileName = "initial-admin-password";
constexpr std::string_view kAdminName = "admin";
constexpr size_t kTokenBytes = 32;
constexpr size_t kGeneratedPasswordLength = 20;  // 20 of 62 symbols: 119 bits
constexpr size_t kMinPasswordChars = 8;
constexpr size_t kMaxPasswordChars = 1024;
constexpr size_t kMaxNameChars = 64;

std::unexpected<Error> unauthenticated(std::string_view message) {
  return make_error(Errc::kUnauthenticated, std::string(message));
}

// sodium_init() may be called more than once and from several threads; its result is kept.
Status init_sodium() {
  static const int rc = sodium_init();
  if (rc < 0) return internal_error("libsodium could not be initialised");
  return ok();
}

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 raw.size());
  hex.pop_back();  // the terminating NUL
  sodium_memzero(raw.data(), raw.size());
  return hex;
}

std::string random_password() {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string password(kGeneratedPasswordLength, '\0');
  // randombytes_uniform has no modulo bias.
  for (char& c : password)
    c = kAlphabet[randombytes_uniform(static_cast<uint32_t>(kAlphabet.size()))];
  return password;
}

// A hash of a random password nobody knows, verified against when the user does not exist so
// that an unknown name costs the same time as a wrong password.
const std::string& dummy_hash() {
  static const std::string hash = [] {
    auto h = Auth::hash_password(random_hex(16));
    return h ? *h : std::string();
  }();
  return hash;
}

// Characters, not bytes: a UTF-8 continuation byte does not start a character.
size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

bool valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameChars) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The initial password file: written whole and synced, with its directory, before the user it
// describes exists, so that a crash never leaves an administrator whose password nobody has.

Status write_synced(Fd& fd, std::string_view data, const std::string& path) {
  // The mode must be 0600 whatever the umask said.
  if (::fchmod(fd.get(), 0600) != 0) return errno_error("setting the mode of " + path, errno);
  while (!data.empty()) {
    const ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("writing " + path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(fd.get()) != 0) return errno_error("syncing " + path, errno);
  return fd.close("closing " + path);
}

Status sync_dir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return errno_error("opening " + dir, errno);
  if (::fsync(fd.get()) != 0) return errno_error("syncing " + dir, errno);
  return fd.close("closing " + dir);
}

Status write_password_file(const std::string& state_dir, const std::string& path,
                           std::string_view content) {
  Fd fd(::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() >= 0) {
    if (Status s = write_synced(fd, content, path); !s) {
      ::unlink(path.c_str());
      return s;
    }
    return sync_dir(state_dir);
  }
  if (errno != EEXIST) return errno_error("creating " + path, errno);

  // Left by a first start that stopped before it created the user: replace it atomically, so
  // that the file holds either the old password or the new one, never a mix.
  std::string tmp = path + ".XXXXXX";
  Fd tmp_fd(::mkostemp(tmp.data(), O_CLOEXEC));  // mode 0600
  if (tmp_fd.get() < 0) return errno_error("creating a temporary file beside " + path, errno);
  Status s = write_synced(tmp_fd, content, tmp);
  if (s && ::rename(tmp.c_str(), path.c_str()) != 0)
    s = errno_error("renaming " + tmp + " to " + path, errno);
  if (!s) {
    ::unlink(tmp.c_str());
    return s;
  }
  return sync_dir(state_dir);
}

}  // namespace

Auth::Auth(store::Store& store, int token_ttl_seconds)
    : store_(store), token_ttl_seconds_(token_ttl_seconds) {
  (void)init_sodium();  // a failure is reported by the first call that needs libsodium
}

Result<std::string> Auth::hash_password(const std::string& password) {
  TRY(init_sodium());
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), kHashPasses, kHashMemoryBytes) != 0)
    return make_error(Errc::kInternal, "hashing a password failed: out of memory", {},
                      /*retryable=*/true);
  return std::string(out);
}

bool Auth::verify_password(const std::string& hash, const std::string& password) {
  if (!init_sodium()) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

Result<std::optional<std::string>> Auth::bootstrap(const std::string& state_dir) {
  // Two threads of one daemon must not both find no users and both create "admin".
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (TRY(store_.count_users()) > 0) return std::nullopt;

  std::string password = random_password();
  const std::string hash = TRY(hash_password(password));
  const std::string path = state_dir + "/" + std::string(kPasswordFileName);
  std::string content = password + "\n";
  Status written = write_password_file(state_dir, path, content);
  sodium_memzero(content.data(), content.size());
  TRY_CTX(written, "writing the initial administrator password");

  if (auto user = store_.create_user(std::string(kAdminName), store::Role::kAdministrator, hash);
      !user) {
    ::unlink(path.c_str());  // it names a password that does not work
    return std::unexpected(std::move(user.error()).context("creating the administrator"));
  }
  return password;
}

Result<std::string> Auth::login(const std::string& user, const std::string& password,
                                const std::string& client_address) {
  TRY(init_sodium());
  if (auto wait = throttle_.blocked(user, client_address, LoginThrottle::Clock::now())) {
    Error e{Errc::kResourceExhausted,
            "too many failed logins; try again in " + std::to_string(wait->count()) + " s",
            {},
            true};
    e.retry_after_seconds = static_cast<int>(wait->count());
    return std::unexpected(std::move(e));
  }
  auto token = check_credentials(user, password);
  // Only a wrong name or password counts; a store error says nothing about the guess.
  if (token)
    throttle_.succeeded(user, client_address);
  else if (token.error().code == Errc::kUnauthenticated)
    throttle_.failed(user, client_address, LoginThrottle::Clock::now());
  return token;
}

Result<std::string> Auth::check_credentials(const std::string& user, const std::string& password) {
  auto found = store_.get_user(user);
  if (!found) {
    if (found.error().code != Errc::kNotFound) return std::unexpected(std::move(found.error()));
    (void)verify_password(dummy_hash(), password);  // the same work as for a real user
    return unauthenticated(kWrongCredentials);
  }
  if (!verify_password(found->password_hash, password)) return unauthenticated(kWrongCredentials);
  // A hash made with other parameters (before flinkbr 0.3: libsodium's interactive limits,
  // 64 MiB per login) is replaced now that the password is known. A failure here must not
  // refuse a valid login: the old hash keeps working.
  if (crypto_pwhash_str_needs_rehash(found->password_hash.c_str(), kHashPasses, kHashMemoryBytes) !=
      0) {
    if (auto h = hash_password(password); h) (void)store_.set_password_hash(found->id, *h);
  }

  const int64_t now = now_seconds();
  // Opportunistic clean-up; a failure here must not refuse a valid login.
  (void)store_.delete_expired_tokens(now);
  std::string token = random_hex(kTokenBytes);
  TRY(store_.put_token({.token_hash = io::sha256_hex(token),
                        .user_id = found->id,
                        .created_at = now,
                        .expires_at = now + token_ttl_seconds_}));
  return token;
}

Result<store::User> Auth::authenticate(const std::string& token) {
  // Our tokens are kTokenBytes as hex; anything else cannot match and is not worth hashing.
  if (token.size() != kTokenBytes * 2) return unauthenticated(kInvalidToken);
  auto stored = store_.get_token(io::sha256_hex(token));
  if (!stored) {
    if (stored.error().code == Errc::kNotFound) return unauthenticated(kInvalidToken);
    return std::unexpected(std::move(stored.error()));
  }
  // Expired tokens stay until the next login cleans them up, so the answer stays "expired".
  if (now_seconds() >= stored->expires_at) return unauthenticated(kExpiredToken);
  auto user = store_.get_user_by_id(stored->user_id);
  if (!user) {
    if (user.error().code == Errc::kNotFound) return unauthenticated(kInvalidToken);
    return std::unexpected(std::move(user.error()));
  }
  return user;
}

std::string Auth::csrf_token(const std::string& token) {
  return io::sha256_hex("flinkbr-csrf-v1:" + token);
}

bool Auth::csrf_matches(const std::string& token, const std::string& given) {
  const std::string want = csrf_token(token);
  if (given.size() != want.size()) return false;
  return sodium_memcmp(want.data(), given.data(), want.size()) == 0;
}

Status Auth::logout(const std::string& token) {
  return store_.delete_token(io::sha256_hex(token));
}

Result<store::User> Auth::create_user(const std::string& name, store::Role role,
                                      const std::string& password) {
  if (!valid_user_name(name))
    return invalid_argument("name",
                            "a user name must be 1 to 64 characters among letters, digits, '.', "
                            "'_' and '-'");
  // "." and ".." cannot be addressed in a URL path (/users/..); "anonymous" is what the audit
  // log writes for requests without a user, so a user of that name could hide behind it.
  if (name == "." || name == "..")
    return invalid_argument("name", "the user name '" + name +
                                        "' is reserved (it cannot stand in a URL path); choose "
                                        "another name");
  std::string lower = name;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "anonymous")
    return invalid_argument("name", "the user name '" + name +
                                        "' is reserved (the audit log's name for requests "
                                        "without a user); choose another name");
  const size_t chars = utf8_length(password);
  if (chars < kMinPasswordChars)
    return invalid_argument("password", "a password must have at least 8 characters");
  if (chars > kMaxPasswordChars)
    return invalid_argument("password", "a password must have at most 1024 characters");
  if (role != store::Role::kViewer && role != store::Role::kOperator &&
      role != store::Role::kAdministrator)
    return invalid_argument("role", "unknown role");
  const std::string hash = TRY(hash_password(password));
  return store_.create_user(name, role, hash);
}

Status Auth::set_password(const store::User& user, const std::string& password,
                          std::string_view field, const std::string& keep_token) {
  const size_t chars = utf8_length(password);
  if (chars < kMinPasswordChars)
    return invalid_argument(std::string(field), "a password must have at least 8 characters");
  if (chars > kMaxPasswordChars)
    return invalid_argument(std::string(field), "a password must have at most 1024 characters");
  const std::string hash = TRY(hash_password(password));
  TRY(store_.set_password_hash(user.id, hash));
  return store_.delete_user_tokens(user.id, keep_token.empty() ? "" : io::sha256_hex(keep_token));
}

Status Auth::check_current_password(const store::User& user, const std::string& password,
                                    const std::string& client_address, std::string_view field) {
  TRY(init_sodium());
  if (auto wait = throttle_.blocked(user.name, client_address, LoginThrottle::Clock::now())) {
    Error e{Errc::kResourceExhausted,
            "too many wrong passwords; try again in " + std::to_string(wait->count()) + " s",
            {},
            true};
    e.retry_after_seconds = static_cast<int>(wait->count());
    return std::unexpected(std::move(e));
  }
  if (!verify_password(user.password_hash, password)) {
    throttle_.failed(user.name, client_address, LoginThrottle::Clock::now());
    return invalid_argument(std::string(field), "the current password is wrong");
  }
  throttle_.succeeded(user.name, client_address);
  return ok();
}

}  // namespace flinkbr::auth
