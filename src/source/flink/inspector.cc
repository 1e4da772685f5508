#include "source/flink/inspector.h"

#include <algorithm>
#include <optional>

#include "source/flink/layout.h"
#include "source/flink/pointer.h"
#include "source/zookeeper/codec.h"

namespace flinkbr::source::flink {
namespace {

constexpr std::string_view kZnodePrefix = "znodes/";
constexpr std::string_view kTreePrefix = "tree/";

// The "path" of a canonical zookeeper line ({"acl":...,"data":...,"path":"/x","sequential":b}):
// found from the end, so that the data need not be scanned. nullopt when the line is not in
// that form (the restore refuses such a file; the inspector then only skips the line).
std::optional<std::string> line_path(std::string_view line) {
  constexpr std::string_view kKey = ",\"path\":\"";
  size_t at = line.rfind(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  size_t start = at + kKey.size() - 1;  // the opening quote
  size_t i = start + 1;
  while (i < line.size() && line[i] != '"') i += (line[i] == '\\') ? 2 : 1;
  if (i >= line.size()) return std::nullopt;
  // Printable ASCII without escapes (every path of a Flink tree) is its own value: no JSON
  // parser for it, once per line of the payload.
  const std::string_view raw = line.substr(start + 1, i - start - 1);
  if (std::all_of(raw.begin(), raw.end(),
                  [](char c) { return c >= 0x20 && c < 0x7f && c != '\\'; }))
    return std::string(raw);
  auto j = nlohmann::json::parse(line.substr(start, i - start + 1), nullptr, false);
  if (!j.is_string()) return std::nullopt;
  return j.get<std::string>();
}

bool is_record(NodeKind k) {
  return k == NodeKind::kJobGraph || k == NodeKind::kExecutionPlan || k == NodeKind::kCheckpoint ||
         k == NodeKind::kLegacyCheckpoint;
}
bool is_checkpoint(NodeKind k) {
  return k == NodeKind::kCheckpoint || k == NodeKind::kLegacyCheckpoint;
}
bool is_counter(NodeKind k) {
  return k == NodeKind::kCheckpointCounter || k == NodeKind::kLegacyCheckpointCounter;
}

// A pointer's path as a problem names it: the path comes from a znode anyone able to write the
// HA tree controls, and a refusal is one line on a terminal and in a log. Control characters
// become %XX (an encoded NUL or newline is legal in a URI) and a path longer than
// kShownPathBytes is cut, on a UTF-8 boundary, with its full length said.
constexpr size_t kShownPathBytes = 256;
std::string shown_path(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string_view head = path;
  if (head.size() > kShownPathBytes) {
    size_t cut = kShownPathBytes;
    while (cut > 0 && (static_cast<unsigned char>(head[cut]) & 0xC0) == 0x80) --cut;
    head = head.substr(0, cut);
  }
  std::string out;
  for (unsigned char c : head) {
    if (c < 0x20 || c == 0x7f) {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (head.size() < path.size()) out += "... (" + std::to_string(path.size()) + " bytes)";
  return out;
}

}  // namespace

uint64_t file_key(std::string_view source, std::string_view rel) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(source);
  h ^= 0;
  h *= 1099511628211ull;
  mix(rel);
  return h;
}

nlohmann::json Consistency::to_json() const {
  nlohmann::json j = {{"state", state},
                      {"pointers", pointers},
                      {"dangling", dangling},
                      {"jobs", jobs},
                      {"checkpoints", checkpoints}};
  if (dangling_count > dangling.size()) j["dangling_count"] = dangling_count;
  if (unreadable_count > 0) {
    j["unreadable"] = unreadable;
    j["unreadable_count"] = unreadable_count;
  }
  if (!counters_behind.empty()) j["counters_behind"] = counters_behind;
  return j;
}

std::string Consistency::summary() const {
  std::string out;
  for (const auto& d : dangling) out += (out.empty() ? "" : "; ") + d;
  if (dangling_count > dangling.size())
    out += "; and " + std::to_string(dangling_count - dangling.size()) + " more";
  for (const auto& c : counters_behind) out += (out.empty() ? "" : "; ") + c;
  return out;
}

Inspector::Inspector(const archive::Header& header) {
  for (const auto& s : header.sources) {
    kinds_[s.name] = s.kind;
    if (s.kind == "zookeeper") has_zookeeper_ = true;
    if (s.kind == "files") {
      has_files_ = true;
      locations_[s.name] = s.location;
    }
  }
}

bool Inspector::begin(std::string_view source, std::string_view rel_path, archive::EntryType type,
                      uint64_t size) {
  current_ = Current::kNone;
  auto kind = kinds_.find(std::string(source));
  if (kind == kinds_.end() || type != archive::EntryType::kFile) return false;
  if (kind->second == "files" && rel_path.starts_with(kTreePrefix)) {
    files_[file_key(source, rel_path.substr(kTreePrefix.size()))] = size;
    return false;
  }
  if (kind->second == "zookeeper" && rel_path.starts_with(kZnodePrefix) &&
      rel_path.ends_with(".jsonl")) {
    current_ = Current::kZnodes;
    zk_source_ = source;
    partial_.clear();
    return true;
  }
  return false;
}

void Inspector::data(std::span<const std::byte> bytes) {
  if (current_ != Current::kZnodes) return;
  std::string_view chunk(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  for (;;) {
    size_t nl = chunk.find('\n');
    if (nl == std::string_view::npos) {
      partial_.append(chunk);
      return;
    }
    if (partial_.empty()) {
      line(chunk.substr(0, nl));
    } else {
      partial_.append(chunk.substr(0, nl));
      line(partial_);
      partial_.clear();
    }
    chunk.remove_prefix(nl + 1);
  }
}

void Inspector::end() {
  if (current_ == Current::kZnodes && !partial_.empty()) line(partial_);
  partial_.clear();
  current_ = Current::kNone;
}

void Inspector::add_problem(std::vector<std::string>& list, uint64_t* count, std::string what) {
  if (count) ++*count;
  if (list.size() < kListedProblems) list.push_back(std::move(what));
}

void Inspector::line(std::string_view text) {
  auto path = line_path(text);
  nlohmann::json j;
  if (!path) {
    // Not the canonical spelling flinkbr writes, but the restore accepts any JSON spelling of a
    // line (a file edited by hand with another JSON writer: spaces, another key order). The
    // inspector must see the same pointers the restore will write, or an edited file with a
    // dangling pointer would pass the check: parse such a line whole.
    j = nlohmann::json::parse(text, nullptr, false);
    auto p = j.is_object() ? j.find("path") : j.end();
    if (!j.is_object() || p == j.end() || !p->is_string()) return;
    path = p->get<std::string>();
  }
  if (path->empty()) return;
  NodeInfo info = classify(*path);
  if (!is_record(info.kind) && !is_counter(info.kind)) return;
  std::optional<std::string> data;
  // The restore's own parser, whose fast path takes the canonical line without a JSON parser
  // (most lines of a big tree are records: a JSON parse of each was a fifth of a backup's CPU).
  // A line it refuses is looked at as any JSON, as before.
  bool read = false;
  if (j.is_null())
    if (auto parsed = zookeeper::parse_line(text, 1)) {
      data = std::move(parsed->second.data);
      read = true;
    }
  if (!read) {
    if (j.is_null()) j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) return;
    auto d = j.find("data");
    if (d != j.end() && d->is_string()) data = zookeeper::b64_decode(d->get<std::string>());
  }
  if (is_counter(info.kind)) {
    if (auto v = data ? parse_counter(*data) : std::nullopt) counters_[info.job_id] = *v;
    return;
  }
  jobs_[info.job_id] = true;
  if (is_checkpoint(info.kind)) {
    ++checkpoints_;
    auto& latest = latest_.try_emplace(info.job_id, -1).first->second;
    latest = std::max(latest, info.checkpoint_id);
  }
  if (!data) {
    add_problem(unreadable_, &unreadable_count_, *path + ": no data");
    return;
  }
  auto pointer = parse_pointer(*data);
  if (!pointer) {
    add_problem(unreadable_, &unreadable_count_, *path + ": " + pointer.error().message);
    return;
  }
  if (!*pointer) {
    add_problem(unreadable_, &unreadable_count_, *path + ": not a Java-serialized state handle");
    return;
  }
  PointerRef ref{.znode = *path, .file = (*pointer)->path, .size = (*pointer)->state_size};
  for (const auto& [name, location] : locations_) {
    if (auto r = relative_to(ref.file, location)) {
      ref.source = name;
      ref.rel = *r;
      break;
    }
  }
  pointers_.push_back(std::move(ref));
}

Consistency Inspector::finish() {
  Consistency c;
  c.pointers = pointers_.size();
  c.jobs = jobs_.size();
  c.checkpoints = checkpoints_;
  for (const auto& [job, unused] : jobs_) {
    auto l = latest_.find(job);
    c.latest_checkpoint[job] = l == latest_.end() ? -1 : l->second;
  }
  c.unreadable = unreadable_;
  c.unreadable_count = unreadable_count_;
  for (const auto& p : pointers_) {
    std::string why;
    if (p.source.empty()) {
      why = "not under any files source of the backup";
    } else if (auto f = files_.find(file_key(p.source, p.rel)); f == files_.end()) {
      why = "missing from files source '" + p.source + "'";
    } else if (static_cast<int64_t>(f->second) != p.size) {
      why = "the file has " + std::to_string(f->second) + " bytes, the pointer says " +
            std::to_string(p.size);
    }
    if (!why.empty())
      add_problem(c.dangling, &c.dangling_count,
                  p.znode + " -> " + shown_path(p.file) + " (" + why + ")");
  }
  for (const auto& [job, latest] : latest_) {
    auto counter = counters_.find(job);
    if (counter == counters_.end()) continue;  // a job whose counter is kept elsewhere
    if (counter->second <= latest)
      c.counters_behind.push_back("the checkpoint counter of job " + job + " is at " +
                                  std::to_string(counter->second) +
                                  ", not ahead of its newest checkpoint " + std::to_string(latest));
  }
  if (has_zookeeper_ && has_files_)
    c.state = (c.dangling_count == 0 && c.counters_behind.empty()) ? "consistent" : "inconsistent";
  return c;
}

}  // namespace flinkbr::source::flink
