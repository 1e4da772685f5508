#include "source/files/tree_payload.h"

#include <algorithm>
#include <optional>
#include <span>
#include <unordered_set>
#include <vector>

#include "archive/format.h"
#include "io/spool.h"

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
// In tree order (every backup this version writes), an entry's parent directory is one of the
// chain of directories still open: memory bounded by the depth. An entry out of tree order
// (remote trees written before tree order; a forged file) switches to a set of every directory
// seen, rebuilt from a spool of their paths, as the local source's staging then holds every
// record in memory.
class TreePayloadCheck final : public PayloadCheck {
 public:
  explicit TreePayloadCheck(io::Spool dirs) : spooled_(std::move(dirs)) {}

  Status add(const archive::Entry& entry, io::Reader& data) override {
    (void)data;  // the archive reader checks a file's bytes against its size and the manifest
    std::string sub = TRY(check_tree_path(entry, have_root_));
    if (sub.empty()) {
      have_root_ = true;
      return ok();
    }
    if (!set_ && !last_.empty() && !tree_order_less(last_, sub)) TRY(switch_to_set());
    const size_t slash = sub.rfind('/');
    const std::string_view parent =
        slash == std::string::npos ? std::string_view() : std::string_view(sub).substr(0, slash);
    if (set_) {
      if (!parent.empty() && !set_->contains(std::string(parent)))
        return entry_without_parent(entry);
    } else {
      // Close the directories that are not ancestors of this entry.
      while (!chain_.empty() &&
             !(sub.size() > chain_.back().size() && sub.starts_with(chain_.back()) &&
               sub[chain_.back().size()] == '/'))
        chain_.pop_back();
      if (!parent.empty() && (chain_.empty() || chain_.back() != parent))
        return entry_without_parent(entry);
    }
    if (entry.type == archive::EntryType::kDirectory) {
      const auto len = static_cast<uint32_t>(sub.size());
      TRY(spooled_.append(std::string_view(reinterpret_cast<const char*>(&len), sizeof len)));
      TRY(spooled_.append(sub));
      if (set_)
        set_->insert(sub);
      else
        chain_.push_back(sub);
    }
    last_ = std::move(sub);
    return ok();
  }
  Status finish() override {
    if (!have_root_) return missing_root();
    return ok();
  }

 private:
  Status switch_to_set() {
    set_.emplace();
    io::SpoolCursor in(spooled_, 0);
    uint32_t len = 0;
    while (TRY(in.read(std::span(reinterpret_cast<char*>(&len), sizeof len)))) {
      std::string path(len, '\0');
      TRY(in.read(std::span(path.data(), path.size())));
      set_->insert(std::move(path));
    }
    chain_.clear();
    return ok();
  }

  bool have_root_ = false;
  io::Spool spooled_;                                   // every directory's path, length first
  std::string last_;                                    // the previous entry below the root
  std::vector<std::string> chain_;                      // in tree order: the open directories
  std::optional<std::unordered_set<std::string>> set_;  // out of tree order: every directory
};
}  // namespace

Result<std::unique_ptr<PayloadCheck>> make_payload_check(const std::string& spool_dir) {
  return std::unique_ptr<PayloadCheck>(
      std::make_unique<TreePayloadCheck>(TRY(io::Spool::create(spool_dir))));
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
