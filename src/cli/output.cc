// What the CLI prints: error lines, tables, the progress bar and the dry-run preview.
#include <algorithm>
#include <cctype>
#include <cstdio>

#include "cli/cli.h"

namespace flinkbr::cli {

using nlohmann::json;

std::string flag_for_field(std::string_view field) {
  // API fields whose flag is not simply "--" + the field with '-' for '_'.
  if (field == "name") return "NAME";
  if (field == "password" || field.empty() || field.starts_with("-")) return std::string(field);
  if (field == "Last-Event-ID") return std::string(field);
  std::string flag = "--" + std::string(field);
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

Error with_flag_names(Error e) {
  if (e.field.empty() || e.field.starts_with("-")) return e;
  const std::string field = e.field;
  const std::string flag = flag_for_field(field);
  if (flag == field) return e;
  auto is_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  // Every whole-word use of the field: the daemon's messages name it ("namenode_ip: ...",
  // "source_path must be ..."), the user typed the flag. A field without '_' is also an ordinary
  // word ("cluster 'x' ..."), so only a leading "field:" of it is replaced.
  std::string msg = e.message;
  if (field.find('_') != std::string::npos) {
    std::string out;
    size_t i = 0;
    while (i < msg.size()) {
      const size_t at = msg.find(field, i);
      if (at == std::string::npos) break;
      const size_t end = at + field.size();
      const bool whole =
          (at == 0 || !is_word(msg[at - 1])) && (end >= msg.size() || !is_word(msg[end]));
      out += msg.substr(i, at - i);
      out += whole ? flag : field;
      i = end;
    }
    out += msg.substr(std::min(i, msg.size()));
    msg = std::move(out);
  } else if (msg.starts_with(field + ":")) {
    msg = flag + msg.substr(field.size());
  }
  e.message = std::move(msg);
  e.field = flag;
  return e;
}

std::string error_line(const Error& e) {
  std::string msg = e.message.empty() ? std::string(errc_name(e.code)) : e.message;
  if (!e.field.empty() && msg.find(e.field) == std::string::npos) msg = e.field + ": " + msg;
  // One line, whatever the daemon said.
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  std::replace(msg.begin(), msg.end(), '\r', ' ');
  return "flinkbr: " + msg;
}

std::string render_progress_bar(int percent, std::string_view stage, std::string_view name,
                                int width) {
  percent = std::clamp(percent, 0, 100);
  width = std::max(width, 1);
  const int filled = percent * width / 100;
  std::string out = "[";
  out.append(static_cast<size_t>(filled), '#');
  out.append(static_cast<size_t>(width - filled), '-');
  char pct[8];
  std::snprintf(pct, sizeof pct, "%3d%%", percent);
  out += "] ";
  out += pct;
  if (!stage.empty()) {
    out += "  ";
    out += stage;
  }
  if (!name.empty()) {
    out += "  ";
    out += name;
  }
  return out;
}

namespace {
// Display width of UTF-8 text: code points, not bytes (good enough for names and paths).
size_t display_width(std::string_view s) {
  size_t n = 0;
  for (char ch : s)
    if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++n;
  return n;
}
}  // namespace

std::string render_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(headers.size(), 0);
  for (size_t i = 0; i < headers.size(); ++i) widths[i] = display_width(headers[i]);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], display_width(row[i]));
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string& cell = i < cells.size() ? cells[i] : std::string();
      l += cell;
      if (i + 1 < widths.size()) l.append(widths[i] - display_width(cell) + 2, ' ');
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(headers);
  for (const auto& row : rows) line(row);
  return out;
}

std::string human_bytes(uint64_t n) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (n < 1024) return std::to_string(n) + " B";
  double v = static_cast<double>(n);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 10 ? "%.1f %s" : "%.0f %s", v, kUnits[u]);
  return buf;
}

std::string render_progress_detail(const json& detail) {
  if (!detail.is_object()) return "";
  auto count = [&](const char* key) -> uint64_t {
    auto it = detail.find(key);
    if (it == detail.end() || !it->is_number_integer() || it->get<int64_t>() < 0)
      return uint64_t{0};
    return it->get<uint64_t>();
  };
  auto it = detail.find("step");
  std::string out = it != detail.end() && it->is_string() ? it->get<std::string>() : "";
  const uint64_t done = count("bytes_done"), total = count("bytes_total");
  const uint64_t rate = count("bytes_per_second");
  if (done == 0 && total == 0) return out;
  out += (out.empty() ? "" : " ") + human_bytes(done);
  if (total > 0) out += "/" + human_bytes(total);
  if (rate > 0) out += " " + human_bytes(rate) + "/s";
  return out;
}

namespace {
std::string text_of(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "";
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string field_text(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it == obj.end() ? "" : text_of(*it);
}

size_t count_of(const json& source, const char* key) {
  if (source.contains("counts") && source["counts"].is_object() && source["counts"].contains(key) &&
      source["counts"][key].is_number_unsigned())
    return source["counts"][key].get<size_t>();
  if (source.contains(key) && source[key].is_array()) return source[key].size();
  return 0;
}
}  // namespace

std::string render_preview(const json& preview, size_t max_entries) {
  std::string out = "Dry run of restoration task " + field_text(preview, "task");
  if (auto c = field_text(preview, "cluster"); !c.empty()) out += " into cluster " + c;
  out += ": nothing was changed.\n";
  if (auto p = field_text(preview, "source_path"); !p.empty()) {
    out += "Backup file: " + p;
    auto v = field_text(preview, "system_version");
    auto t = field_text(preview, "execution_time");
    if (!v.empty() || !t.empty()) out += " (version " + v + ", taken " + t + ")";
    out += "\n";
  }
  if (preview.contains("service") && preview["service"].is_object()) {
    out += "Flink service: " + field_text(preview["service"], "state");
    if (auto d = field_text(preview["service"], "detail"); !d.empty()) out += " (" + d + ")";
    out += "\n";
  }
  if (preview.contains("checks") && preview["checks"].is_array() && !preview["checks"].empty()) {
    out += "Checks:\n";
    for (const auto& c : preview["checks"]) {
      if (!c.is_object()) {
        out += "  " + text_of(c) + "\n";
        continue;
      }
      std::string status = field_text(c, "status");
      std::string line = "  " + status +
                         std::string(status.size() < 8 ? 8 - status.size() : 1, ' ') +
                         field_text(c, "name");
      if (auto d = field_text(c, "detail"); !d.empty()) line += ": " + d;
      out += line + "\n";
    }
  }
  if (!preview.contains("sources") || !preview["sources"].is_array()) return out;
  size_t total = 0;
  for (const auto& s : preview["sources"]) {
    const size_t added = count_of(s, "added"), changed = count_of(s, "changed"),
                 removed = count_of(s, "removed");
    total += added + changed + removed;
    out += "Source " + field_text(s, "name");
    if (auto k = field_text(s, "kind"); !k.empty()) out += " (" + k + ")";
    out += ": " + std::to_string(added) + " to add, " + std::to_string(changed) + " to change, " +
           std::to_string(removed) + " to remove\n";
    for (auto [key, mark, n] :
         {std::tuple{"added", "+", added}, {"changed", "~", changed}, {"removed", "-", removed}}) {
      if (!s.contains(key) || !s[key].is_array()) continue;
      size_t shown = 0;
      for (const auto& e : s[key]) {
        if (shown == max_entries) break;
        out += std::string("  ") + mark + " " + text_of(e) + "\n";
        ++shown;
      }
      if (n > shown) out += "    ... and " + std::to_string(n - shown) + " more " + key + "\n";
    }
  }
  if (total == 0) out += "The cluster already holds exactly what the backup holds.\n";
  if (preview.contains("flink") && preview["flink"].is_object()) {
    const json& f = preview["flink"];
    if (f.contains("jobs") && f["jobs"].is_array() && !f["jobs"].empty()) {
      out += "Flink jobs in the backup:\n";
      for (const auto& j : f["jobs"])
        out += "  " + field_text(j, "id") + "  newest checkpoint " +
               (j.contains("latest_checkpoint") && !j["latest_checkpoint"].is_null()
                    ? text_of(j["latest_checkpoint"])
                    : std::string("none")) +
               "\n";
    }
    if (f.contains("rewrites") && f["rewrites"].is_array())
      for (const auto& r : f["rewrites"])
        out += "Pointers rewritten: " + field_text(r, "from") + " -> " + field_text(r, "to") +
               " (" + text_of(r.value("count", json(0))) + ")\n";
    if (f.contains("dangling") && f["dangling"].is_array())
      for (const auto& d : f["dangling"]) out += "Dangling pointer: " + text_of(d) + "\n";
    if (auto r = field_text(f, "refusal"); !r.empty())
      out += "A start would be refused: " + r + "\n";
  }
  // What a start would refuse right now (the preview itself runs while Flink runs).
  if (preview.contains("would_refuse") && preview["would_refuse"].is_array()) {
    const std::string flink_refusal =
        preview.contains("flink") ? field_text(preview["flink"], "refusal") : "";
    if (preview["would_refuse"].empty()) out += "A start now would pass these checks.\n";
    for (const auto& r : preview["would_refuse"])
      if (text_of(r) != flink_refusal) out += "A start now would be refused: " + text_of(r) + "\n";
  }
  return out;
}

namespace {

std::string yaml_key(const std::string& k) {
  const bool plain = !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
  return plain ? k : json(k).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string yaml_scalar(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_object()) return "{}";
  if (v.is_array()) return "[]";
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool yaml_block(const json& v) {
  return (v.is_object() || v.is_array()) && !v.empty();
}

void yaml_lines(const json& j, int indent, std::string& out) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (yaml_block(v)) {
        out += pad + yaml_key(k) + ":\n";
        yaml_lines(v, indent + 2, out);
      } else {
        out += pad + yaml_key(k) + ": " + yaml_scalar(v) + "\n";
      }
    }
    return;
  }
  for (const auto& v : j) {
    if (!yaml_block(v)) {
      out += pad + "- " + yaml_scalar(v) + "\n";
      continue;
    }
    // The item's block, its first line behind the dash.
    std::string item;
    yaml_lines(v, indent + 2, item);
    out += pad + "- " + item.substr(static_cast<size_t>(indent) + 2);
  }
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string render_yaml(const json& j) {
  if (!yaml_block(j)) return yaml_scalar(j) + "\n";
  std::string out;
  yaml_lines(j, 0, out);
  return out;
}

std::string closest_word(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = 3;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (word.size() >= 2 && c.starts_with(word)) d = 0;  // a prefix beats a near miss
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

}  // namespace flinkbr::cli
