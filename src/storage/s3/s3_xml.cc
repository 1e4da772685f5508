#include "storage/s3/s3_xml.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace flinkbr::storage::s3 {

std::string xml_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out += s[i];
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp")
      out += '&';
    else if (ent == "lt")
      out += '<';
    else if (ent == "gt")
      out += '>';
    else if (ent == "quot")
      out += '"';
    else if (ent == "apos")
      out += '\'';
    else if (ent.starts_with("#")) {
      unsigned long cp = ent.starts_with("#x")
                             ? std::strtoul(std::string(ent.substr(2)).c_str(), nullptr, 16)
                             : std::strtoul(std::string(ent.substr(1)).c_str(), nullptr, 10);
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
      } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
      }
    } else {
      out.append(s.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

// The raw contents of each <tag>...</tag> element in xml (no nesting of the same tag), in order.
// A tolerant extractor: S3 answers are flat enough that this is all they need.
std::vector<std::string_view> xml_elements(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  const std::string open = "<" + std::string(tag);
  const std::string close = "</" + std::string(tag) + ">";
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    size_t after = pos + open.size();
    if (after >= xml.size()) break;
    char next = xml[after];
    if (next != '>' && next != ' ' && next != '/') {  // a longer tag name
      pos = after;
      continue;
    }
    size_t gt = xml.find('>', after);
    if (gt == std::string_view::npos) break;
    if (xml[gt - 1] == '/') {  // <Tag/>
      out.emplace_back();
      pos = gt + 1;
      continue;
    }
    size_t end = xml.find(close, gt + 1);
    if (end == std::string_view::npos) break;
    out.push_back(xml.substr(gt + 1, end - gt - 1));
    pos = end + close.size();
  }
  return out;
}

std::optional<std::string> xml_value(std::string_view xml, std::string_view tag) {
  auto v = xml_elements(xml, tag);
  if (v.empty()) return std::nullopt;
  return xml_unescape(v.front());
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// "2009-10-12T17:50:30.000Z" -> epoch seconds.
int64_t parse_iso8601(std::string_view s) {
  std::tm tm{};
  if (std::sscanf(std::string(s).c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm));
}

Result<ListPage> parse_list_page(std::string_view body, const std::string& bucket,
                                 const std::string& prefix, const std::string& where) {
  ListPage page;
  for (auto contents : xml_elements(body, "Contents")) {
    std::string key = xml_value(contents, "Key").value_or("");
    if (key.empty() || key == prefix) continue;  // the "directory" marker itself
    FileInfo f;
    f.path = bucket + "/" + key;
    f.size = std::strtoull(xml_value(contents, "Size").value_or("0").c_str(), nullptr, 10);
    f.mtime = parse_iso8601(xml_value(contents, "LastModified").value_or(""));
    page.entries.push_back(std::move(f));
  }
  for (auto cp : xml_elements(body, "CommonPrefixes")) {
    std::string p = xml_value(cp, "Prefix").value_or("");
    while (p.ends_with('/')) p.pop_back();
    if (p.empty()) continue;
    FileInfo f;
    f.path = bucket + "/" + p;
    f.is_dir = true;
    page.entries.push_back(std::move(f));
  }
  if (xml_value(body, "IsTruncated").value_or("false") == "true") {
    page.next_token = xml_value(body, "NextContinuationToken").value_or("");
    if (page.next_token.empty()) {
      return io_error("listing " + where + ": OBS answered a truncated page without a token");
    }
  }
  return page;
}

}  // namespace flinkbr::storage::s3
