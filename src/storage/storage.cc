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

Result<int> Storage::remove_leftovers_of(const std::string& path) {
  if (!driver_->has_directories()) return 0;
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return 0;
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  const std::string_view final_name = std::string_view(path).substr(slash + 1);
  auto children = driver_->list(dir);
  if (!children && children.error().code == Errc::kNotFound) return 0;
  if (!children) return std::unexpected(std::move(children).error());
  int removed = 0;
  for (const FileInfo& f : *children) {
    if (f.is_dir) continue;
    std::string_view name = std::string_view(f.path).substr(f.path.rfind('/') + 1);
    if (!driver_->is_temporary_of(name, final_name)) continue;
    TRY(remove_if_exists(f.path));
    ++removed;
  }
  return removed;
}

}  // namespace flinkbr::storage
