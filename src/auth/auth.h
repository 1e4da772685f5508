// Users, passwords and tokens. Passwords are hashed with Argon2id (libsodium crypto_pwhash_str)
// at OWASP's first recommended setting (19 MiB, 2 passes, 1 lane) rather than libsodium's
// interactive limit (64 MiB), which alone would take the daemon past its 64 MiB memory budget
// (issue 9) at every login; older hashes are replaced at the next login. Tokens are 32 random
// bytes, handed out once as hex and stored only as their SHA-256, with an expiry. Thread-safe.
#pragma once

#include <optional>
#include <string>

#include "auth/login_throttle.h"
#include "store/store.h"

namespace flinkbr::auth {

class Auth {
 public:
  // `store` is borrowed.
  Auth(store::Store& store, int token_ttl_seconds);

  // On the first start (no users): creates the administrator "admin" with a random password,
  // writes it to <state_dir>/initial-admin-password (mode 0600, the password and a newline) and
  // returns it so the caller can print it once. std::nullopt when users already exist.
  [[nodiscard]] Result<std::optional<std::string>> bootstrap(const std::string& state_dir);

  // A new token for valid credentials; kUnauthenticated ("wrong user name or password") else.
  // After 10 failures in a row for `user` or from `client_address` (login_throttle.h):
  // kResourceExhausted with retry_after_seconds, without looking at the password. Unknown users
  // and wrong passwords get the same answers at the same cost.
  [[nodiscard]] Result<std::string> login(const std::string& user, const std::string& password,
                                          const std::string& client_address = {});
  // The user of a valid, unexpired token; kUnauthenticated otherwise.
  [[nodiscard]] Result<store::User> authenticate(const std::string& token);
  [[nodiscard]] Status logout(const std::string& token);
  // Validates the name (field "name": 1-64 of [A-Za-z0-9._-]) and the password (field
  // "password": at least 8 characters), then creates the user.
  [[nodiscard]] Result<store::User> create_user(const std::string& name, store::Role role,
                                                const std::string& password);
  // Sets a new password (field `field`: at least 8 characters) and ends every session of the
  // user but the one whose token is `keep_token` (empty: all).
  [[nodiscard]] Status set_password(const store::User& user, const std::string& password,
                                    std::string_view field, const std::string& keep_token = "");
  // Checks that `password` is the user's current one (before a change of password), under the
  // login throttle: a stolen session must not guess the password faster than a login could.
  // kResourceExhausted (with retry_after_seconds) while throttled; kInvalidArgument naming
  // `field` when wrong (counted as a failed login).
  [[nodiscard]] Status check_current_password(const store::User& user, const std::string& password,
                                              const std::string& client_address,
                                              std::string_view field);

  // The anti-CSRF token of a console session whose cookie holds `token`: SHA-256 of a fixed
  // label and the token, as hex. A page of another site can neither read the cookie nor this
  // value, so a state-changing call that carries it in X-Flinkbr-CSRF came from our console.
  // Derived rather than stored: it lives and dies with the session token.
  static std::string csrf_token(const std::string& token);
  // Whether `given` is the anti-CSRF token of `token`, compared in constant time.
  static bool csrf_matches(const std::string& token, const std::string& given);

  // The Argon2id cost of new hashes (OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1).
  static constexpr unsigned long long kHashPasses = 2;
  static constexpr size_t kHashMemoryBytes = size_t{19} << 20;
  static Result<std::string> hash_password(const std::string& password);
  static bool verify_password(const std::string& hash, const std::string& password);

 private:
  Result<std::string> check_credentials(const std::string& user, const std::string& password);

  store::Store& store_;
  int token_ttl_seconds_;
  LoginThrottle throttle_;
};

// Whether `role` may perform an action needing `needed` (administrator > operator > viewer).
inline bool allows(store::Role role, store::Role needed) {
  return static_cast<int>(role) >= static_cast<int>(needed);
}

}  // namespace flinkbr::auth
