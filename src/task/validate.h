// Validation of the fields of API requests. Every failure is kInvalidArgument naming the field,
// so the REST API answers 400 with it and the CLI prints it.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace flinkbr::task {

// Task, user and cluster names: 1-64 characters of [A-Za-z0-9._-], not starting with '.' or '-'.
[[nodiscard]] Status validate_name(std::string_view field, std::string_view value);
// An absolute, normalized local path: starts with '/', no empty, "." or ".." components, no
// control characters, at most 4096 bytes.
[[nodiscard]] Status validate_absolute_path(std::string_view field, std::string_view value);
// An object-store path "<bucket>/<prefix>" (OBS): a bucket name as S3 allows it (3-63 of a-z,
// 0-9, '.', '-'), then normalized key components; no leading '/'.
[[nodiscard]] Status validate_object_path(std::string_view field, std::string_view value);
// A backup file path: validate_absolute_path, and the name ends with ".tar.gz".
[[nodiscard]] Status validate_backup_file_path(std::string_view field, std::string_view value);
// "N{s,m,h,d}", N >= 1; returns seconds.
[[nodiscard]] Result<int64_t> parse_period(std::string_view field, std::string_view value);
// Rejects control characters and overlong values in a free-text field.
[[nodiscard]] Status validate_text(std::string_view field, std::string_view value,
                                   size_t max_length = 4096);

}  // namespace flinkbr::task
