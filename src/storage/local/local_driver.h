// The LocalDir driver: backup files on the manager's own disk. Paths are absolute local paths.
// Durability recipe: write to "<dir>/.<name>.tmp-<random>", fsync the file, rename it to the
// final name, fsync the directory. A writer destroyed unfinished unlinks its temporary file.
#pragma once

#include <memory>

#include "storage/storage.h"

namespace flinkbr::storage {

std::unique_ptr<StorageDriver> make_local_driver();

}  // namespace flinkbr::storage
