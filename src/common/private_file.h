// A secret kept in a file of its own (a database password, a webhook's shared secret): read only
// when the file is a regular file owned by the daemon's user and readable by that user alone
// (mode 0600 or stricter), as ssh does with its keys. A secret that others can read is no longer
// one; refusing it at start says so while the operator is there to fix it.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace flinkbr {

// The file's first 64 KiB without its final line breaks. Failures (kInvalidArgument with
// `field`, the configuration key that names the file) say `what` and the path: cannot open, not
// a regular file, owned by another uid, readable by group or others (with the chmod that fixes
// it), empty. The content never appears in an error. Thread-safe.
[[nodiscard]] Result<std::string> read_private_file(const std::string& path, std::string_view field,
                                                    std::string_view what);

}  // namespace flinkbr
