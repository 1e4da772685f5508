// Errors as values. Every fallible operation in flinkbr returns Result<T> (or Status, which is
// Result<void>). An Error carries a stable code from one catalogue (the same codes become HTTP
// statuses in the REST API and exit codes in the CLI), a human sentence, the name of the
// offending field when bad input is the cause, and whether retrying may help.
//
// Context is added on the way up with `.context("while ...")`-style helpers so that a failure
// deep in a storage driver reads, at the top, like "backup of source 'conf': writing
// /x/y.tar.gz: No space left on device".
//
// No exceptions cross our interfaces: third-party exceptions are caught at thread and task
// entry and turned into Errc::Internal.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace flinkbr {

// The catalogue. Keep the names stable: they appear in JSON error bodies as snake_case
// strings (see errc_name) and scripts match on them.
enum class Errc {
  kInvalidArgument,     // bad input; `field` names it. HTTP 400, CLI exit 2.
  kUnauthenticated,     // no or expired credentials. HTTP 401, exit 3.
  kPermissionDenied,    // authenticated but not allowed. HTTP 403, exit 3.
  kNotFound,            // a named thing does not exist. HTTP 404, exit 4.
  kAlreadyExists,       // a name is taken. HTTP 409, exit 5.
  kFailedPrecondition,  // the world is not in the state the operation needs (service running,
                        // version mismatch, task already Succeeded). HTTP 409, exit 5.
  kConflict,            // another operation holds what this one needs. HTTP 409, exit 5.
  kCorruption,          // a backup file fails its integrity or format checks. HTTP 422, exit 6.
  kIOError,             // an OS or storage operation failed. HTTP 500, exit 7.
  kUnavailable,         // a remote peer did not answer. HTTP 503, exit 7.
  kTimeout,             // an operation ran out of time. HTTP 504, exit 7.
  kCancelled,           // stopped on request or by shutdown. HTTP 409, exit 8.
  kResourceExhausted,   // a caller exceeded its share (too many streams, slow calls or failed
                        // logins); `retry_after_seconds` says when to come back. HTTP 429,
                        // exit 7.
  kInternal,            // a bug or an unexpected third-party exception. HTTP 500, exit 1.
};

// snake_case name used in JSON ("invalid_argument", ...).
std::string_view errc_name(Errc code);
// Inverse of errc_name; kInternal for unknown names.
Errc errc_from_name(std::string_view name);
int errc_http_status(Errc code);
int errc_exit_code(Errc code);

struct Error {
  Errc code = Errc::kInternal;
  std::string message;
  std::string field;       // set for kInvalidArgument: the API/config/CLI field at fault
  bool retryable = false;  // a retry of the same operation may succeed (network, timeouts)
  // With kResourceExhausted or kUnavailable: seconds to wait before a retry (the REST API sends
  // it as Retry-After); 0 when not known.
  int retry_after_seconds = 0;

  // Prefixes the message with what the caller was doing: "what: message".
  Error& context(std::string_view what) &;
  Error&& context(std::string_view what) &&;
};

template <class T>
using Result = std::expected<T, Error>;
using Status = Result<void>;

// Named factories, as in leveldb's Status.
inline std::unexpected<Error> make_error(Errc code, std::string message, std::string field = {},
                                         bool retryable = false) {
  return std::unexpected<Error>(Error{code, std::move(message), std::move(field), retryable});
}
inline std::unexpected<Error> invalid_argument(std::string field, std::string message) {
  return make_error(Errc::kInvalidArgument, std::move(message), std::move(field));
}
inline std::unexpected<Error> not_found(std::string message) {
  return make_error(Errc::kNotFound, std::move(message));
}
inline std::unexpected<Error> corruption(std::string message) {
  return make_error(Errc::kCorruption, std::move(message));
}
inline std::unexpected<Error> io_error(std::string message) {
  return make_error(Errc::kIOError, std::move(message));
}
inline std::unexpected<Error> failed_precondition(std::string message) {
  return make_error(Errc::kFailedPrecondition, std::move(message));
}
inline std::unexpected<Error> internal_error(std::string message) {
  return make_error(Errc::kInternal, std::move(message));
}
// An IOError built from errno: "what: strerror(errno)".
std::unexpected<Error> errno_error(std::string_view what, int err);

inline Status ok() {
  return {};
}

// Adds context to the error of a failed Result and passes success through.
template <class T>
Result<T> with_context(Result<T> r, std::string_view what) {
  if (!r) r.error().context(what);
  return r;
}

}  // namespace flinkbr

// TRY(expr): evaluates a Result; on error returns it from the enclosing function (which must
// return a Result of any type), otherwise yields the value. GNU statement expression, supported
// by GCC and Clang, which are the compilers we build with.
#define TRY(expr)                                                                   \
  ({                                                                                \
    auto&& flinkbr_try_r_ = (expr);                                                 \
    if (!flinkbr_try_r_) return std::unexpected(std::move(flinkbr_try_r_).error()); \
    std::move(flinkbr_try_r_).value();                                              \
  })

// TRY_CTX(expr, what): as TRY, adding context to the error.
#define TRY_CTX(expr, what)                                                                       \
  ({                                                                                              \
    auto&& flinkbr_try_r_ = (expr);                                                               \
    if (!flinkbr_try_r_) return std::unexpected(std::move(flinkbr_try_r_.error().context(what))); \
    std::move(flinkbr_try_r_).value();                                                            \
  })
