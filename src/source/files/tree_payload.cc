#include "source/files/tree_payload.h"

#include "archive/format.h"

namespace flinkbr::source::files {

Result<std::string> check_tree_entry(const archive::Entry& entry, bool have_root,
                                     const std::map<std::string, TreeRecord>& staged) {
  std::string_view rel = entry.relative_path();
  auto refuse = [&](std::string why) {
    return corruption("entry '" + entry.path + "' " + std::move(why));
  };
  if (rel == kTree) {
    if (entry.type != archive::EntryType::kDirectory)
      return refuse("must be a directory (the root of a files payload)");
    if (have_root) return refuse("appears twice");
    return std::string();
  }
  if (!rel.starts_with(kTreePrefix))
    return refuse("is not part of a files payload (expected 'tree' or 'tree/...')");
  if (!have_root) return refuse("comes before the root entry 'tree'");
  std::string sub(rel.substr(kTreePrefix.size()));
  if (auto st = archive::validate_entry_path(sub); !st)
    return refuse("has an invalid path: " + st.error().message);
  if (staged.contains(sub)) return refuse("appears twice");
  if (auto slash = sub.rfind('/'); slash != std::string::npos) {
    auto parent = staged.find(sub.substr(0, slash));
    if (parent == staged.end() || parent->second.type != archive::EntryType::kDirectory)
      return refuse("comes before its parent directory, or its parent is not a directory");
  }
  return sub;
}

}  // namespace flinkbr::source::files
