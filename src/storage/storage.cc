#include "storage/storage.h"

namespace flinkbr::storage {

Result<bool> Storage::exists(const std::string& path) {
  auto st = driver_->stat(path);
  if (st) return true;
  if (st.error().code == Errc::kNotFound) return false;
  return std::unexpected(std::move(st).error());
}

Status Storage::remove_if_exists(const std::string& path) {
  auto st = driver_->remove(path);
  if (!st && st.error().code == Errc::kNotFound) return ok();
  return st;
}

}  // namespace flinkbr::storage
