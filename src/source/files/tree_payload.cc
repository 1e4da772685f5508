#include "source/files/tree_payload.h"

#include <algorithm>
#include <unordered_set>

#include "archive/format.h"

namespace flinkbr::source::files {

bool tree_order_less(std::string_view a, std::string_view b) {
  // '/' maps to 0, below every byte a name can hold (names hold no NUL).
  auto key = [](char c) { return c == '/' ? 0 : static_cast<unsigned char>(c); };
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return key(a[i]) < key(b[i]);
  return a.size() < b.size();
}

std::unexpected<Error> entry_twice(const archive::Entry& entry) {
  return corruption("entry '" + entry.path + "' appears twice");
}

std::unexpected<Error> entry_without_parent(const archive::Entry& entry) {
  return corruption("entry '" + entry.path +
                    "' comes before its parent directory, or its parent is not a directory");
}

Result<std::string> check_tree_path(const archive::Entry& entry, bool have_root) {
  std::string_view rel = entry.relative_path();
  auto refuse = [&](std::string why) {
    return corruption("entry '" + entry.path + "' " + std::move(why));
  };
  if (rel == kTree) {
    if (entry.type != archive::EntryType::kDirectory)
      return refuse("must be a directory (the root of a files payload)");
    if (have_root) return entry_twice(entry);
    return std::string();
  }
  if (!rel.starts_with(kTreePrefix))
    return refuse("is not part of a files payload (expected 'tree' or 'tree/...')");
  if (!have_root) return refuse("comes before the root entry 'tree'");
  std::string sub(rel.substr(kTreePrefix.size()));
  if (auto st = archive::validate_entry_path(sub); !st)
    return refuse("has an invalid path: " + st.error().message);
  return sub;
}

Result<std::string> check_tree_entry(const archive::Entry& entry, bool have_root,
                                     const std::map<std::string, TreeRecord>& staged) {
  std::string sub = TRY(check_tree_path(entry, have_root));
  if (sub.empty()) return sub;
  if (staged.contains(sub)) return entry_twice(entry);
  if (auto slash = sub.rfind('/'); slash != std::string::npos) {
    auto parent = staged.find(sub.substr(0, slash));
    if (parent == staged.end() || parent->second.type != archive::EntryType::kDirectory)
      return entry_without_parent(entry);
  }
  return sub;
}

std::unexpected<Error> missing_root() {
  return corruption("the files payload has no root entry 'tree'");
}

namespace {
class TreePayloadCheck final : public PayloadCheck {
 public:
  Status add(const archive::Entry& entry, io::Reader& data) override {
    (void)data;  // the archive reader checks a file's bytes against its size and the manifest
    std::string sub = TRY(check_tree_path(entry, have_root_));
    if (sub.empty()) {
      have_root_ = true;
      return ok();
    }
    if (auto slash = sub.rfind('/');
        slash != std::string::npos && !dirs_.contains(sub.substr(0, slash)))
      return entry_without_parent(entry);
    if (entry.type == archive::EntryType::kDirectory) dirs_.insert(std::move(sub));
    return ok();
  }
  Status finish() override {
    if (!have_root_) return missing_root();
    return ok();
  }

 private:
  bool have_root_ = false;
  std::unordered_set<std::string> dirs_;
};
}  // namespace

std::unique_ptr<PayloadCheck> make_payload_check() {
  return std::make_unique<TreePayloadCheck>();
}

std::string field_name(const config::SourceConfig& cfg, std::string_view key) {
  return cfg.key_path.empty() ? std::string(key) : cfg.key_path + "." + std::string(key);
}

Result<std::string> uri_setting(const config::SourceConfig& cfg) {
  if (!cfg.params.is_object())
    return invalid_argument(cfg.key_path, "the settings of a files source must be a map");
  for (const auto& [key, value] : cfg.params.items()) {
    (void)value;
    if (key != "uri")
      return invalid_argument(field_name(cfg, key),
                              "unknown key '" + key + "' for a files source (expected: uri)");
  }
  auto it = cfg.params.find("uri");
  if (it == cfg.params.end())
    return invalid_argument(field_name(cfg, "uri"), "a files source needs a uri");
  if (!it->is_string())
    return invalid_argument(field_name(cfg, "uri"),
                            "must be a string (file:///absolute/path, hdfs://nameservice/path, "
                            "s3://bucket/prefix or obs://bucket/prefix)");
  return it->get<std::string>();
}

}  // namespace flinkbr::source::files
