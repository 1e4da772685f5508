#include "storage/storage.h"

namespace flinkbr::storage {

Result<std::vector<FileInfo>> StorageDriver::list_recursive(const std::string& dir) {
  std::vector<FileInfo> out = TRY(list(dir));
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].is_dir) continue;
    std::vector<FileInfo> below = TRY(list(out[i].path));
    for (auto& f : below) out.push_back(std::move(f));
  }
  return out;
}

Status StorageDriver::make_dir(const std::string& path) {
  if (!has_directories()) return ok();  // prefixes come and go with the objects under them
  return failed_precondition(kind() + " cannot create the directory " + path);
}

Status StorageDriver::remove_tree(const std::string& path) {
  FileInfo info = TRY(stat(path));
  if (info.is_dir) {
    for (const FileInfo& child : TRY(list(path))) TRY(remove_tree(child.path));
    if (!has_directories()) return ok();  // the prefix went with its last object
  }
  return remove(path);
}

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
