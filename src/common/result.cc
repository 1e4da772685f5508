#include "common/result.h"

#include <cstring>

namespace flinkbr {

namespace {
struct Row {
  Errc code;
  std::string_view name;
  int http;
  int exit;
};
constexpr Row kRows[] = {
    {Errc::kInvalidArgument, "invalid_argument", 400, 2},
    {Errc::kUnauthenticated, "unauthenticated", 401, 3},
    {Errc::kPermissionDenied, "permission_denied", 403, 3},
    {Errc::kNotFound, "not_found", 404, 4},
    {Errc::kAlreadyExists, "already_exists", 409, 5},
    {Errc::kFailedPrecondition, "failed_precondition", 409, 5},
    {Errc::kConflict, "conflict", 409, 5},
    {Errc::kCorruption, "corruption", 422, 6},
    {Errc::kIOError, "io_error", 500, 7},
    {Errc::kUnavailable, "unavailable", 503, 7},
    {Errc::kTimeout, "timeout", 504, 7},
    {Errc::kCancelled, "cancelled", 409, 8},
    {Errc::kResourceExhausted, "resource_exhausted", 429, 7},
    {Errc::kInternal, "internal", 500, 1},
};
const Row& row(Errc code) {
  for (const auto& r : kRows)
    if (r.code == code) return r;
  return kRows[std::size(kRows) - 1];
}
}  // namespace

std::string_view errc_name(Errc code) {
  return row(code).name;
}
int errc_http_status(Errc code) {
  return row(code).http;
}
int errc_exit_code(Errc code) {
  return row(code).exit;
}

Errc errc_from_name(std::string_view name) {
  for (const auto& r : kRows)
    if (r.name == name) return r.code;
  return Errc::kInternal;
}

Error& Error::context(std::string_view what) & {
  if (!what.empty()) message = std::string(what) + ": " + message;
  return *this;
}
Error&& Error::context(std::string_view what) && {
  static_cast<Error&>(*this).context(what);
  return std::move(*this);
}

std::unexpected<Error> errno_error(std::string_view what, int err) {
  return make_error(Errc::kIOError, std::string(what) + ": " + std::strerror(err), {},
                    err == EINTR || err == EAGAIN);
}

}  // namespace flinkbr
