// OBS credentials: from a shared-credentials file (INI: "[default]" with aws_access_key_id and
// aws_secret_access_key) that only the manager's user may read, or else from the environment
// (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). Messages name the file and the keys, never a value.
#pragma once

#include <string>

#include "common/result.h"
#include "storage/s3/sigv4.h"

namespace flinkbr::storage::s3 {

// Reads the profile (default "default"; AWS_PROFILE when set) of a credentials file. Refused with
// kPermissionDenied when group or others have any access to the file.
[[nodiscard]] Result<Credentials> load_credentials_file(const std::string& path);
// credentials_file when not empty, otherwise the environment.
[[nodiscard]] Result<Credentials> load_credentials(const std::string& credentials_file);

}  // namespace flinkbr::storage::s3
