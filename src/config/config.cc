// Strict YAML configuration: every map's keys are checked against the keys allowed at its place,
// every value against what the key takes, and every refusal names the key path
// ("clusters[0].service.timeout") and where it stands in the file. yaml-cpp exceptions are caught
// here and never leave this file.
#include "config/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <map>
#include <span>
#include <system_error>

#include <yaml-cpp/yaml.h>

#include "common/text.h"

namespace flinkbr::config {

namespace {

namespace fs = std::filesystem;

using Keys = std::span<const std::string_view>;

constexpr int64_t kMaxDurationSeconds = 3650LL * 86400;  // ten years; fits an int
constexpr size_t kMaxConfigBytes = 16 << 20;

constexpr std::string_view kTopKeys[] = {"server", "restore", "clusters"};
constexpr std::string_view kRestoreKeys[] = {"max_expanded_bytes"};
constexpr std::string_view kServerKeys[] = {"listen",
                                            "state_dir",
                                            "tls_cert_file",
                                            "tls_key_file",
                                            "token_ttl",
                                            "gzip_level",
                                            "compression",
                                            "console_dir",
                                            "webhook_url",
                                            "webhook_on_success",
                                            "webhook_secret_file",
                                            "database",
                                            "database_password_file",
                                            "lease_timeout",
                                            "lease_renew",
                                            "relay_wait"};
constexpr std::string_view kClusterKeys[] = {
    "name",         "version",        "version_command", "service",     "hadoop_conf_dir",
    "hdfs_user",    "webhdfs_port",   "yarn_rm_url",     "obs",         "hdfs_auth",
    "hdfs_ca_file", "webhdfs_scheme", "metadata",        "service_data"};
constexpr std::string_view kServiceKeys[] = {"status", "stop", "start", "rest_url", "timeout"};
constexpr std::string_view kObsKeys[] = {"endpoint", "region", "credentials_file", "addressing",
                                         "part_size"};

// Levenshtein distance, for "did you mean" hints on misspelt keys.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Cluster and source names end up in file names, archive entries and URLs: 1-64 characters
// from [A-Za-z0-9._-], and not "." or "..".
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 64 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}
constexpr std::string_view kNameRule =
    "expected a name of 1-64 characters from A-Z a-z 0-9 . _ - (not '.' or '..')";

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<int64_t> to_int(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "http://host..." or "https://host...", with a host and no blanks.
// http(s)://host[:port][/path...]: a host (a name, IPv4, or IPv6 in brackets), a port 1-65535
// when given, no user:password@ (the webhook sender does not send credentials from the URL; a
// secret goes in webhook_secret_file), no blanks or control characters.
bool valid_http_url(std::string_view s) {
  std::string_view rest;
  if (s.starts_with("http://")) {
    rest = s.substr(7);
  } else if (s.starts_with("https://")) {
    rest = s.substr(8);
  } else {
    return false;
  }
  if (std::any_of(s.begin(), s.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; }))
    return false;
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return false;
  std::string_view port;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      port = after.substr(1);
      if (port.empty()) return false;
    }
  } else {
    const size_t colon = authority.find(':');
    if (colon == 0) return false;
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty() || port.find(':') != std::string_view::npos) return false;
    }
  }
  if (!port.empty()) {
    if (port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    const int n = std::stoi(std::string(port));
    if (n < 1 || n > 65535) return false;
  }
  return true;
}

bool valid_hostname(std::string_view s) {
  return !s.empty() && s.size() <= 253 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
  });
}

std::string make_absolute(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(fs::path(path), ec);
  if (ec) return path;
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// file:// URI of an absolute path; bytes outside the unreserved and path characters of RFC 3986
// (blanks, '%', '?', '#', non-ASCII, ...) are percent-encoded, as the files source decodes them.
std::string file_uri(std::string_view path) {
  return "file://" + percent_encode(path, "/!$&'()*+,;=:@");
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "'" + n.Scalar() + "'";
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
std::string index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// A plain YAML scalar as JSON after the YAML 1.2 core schema (booleans, integers, floats);
// quoted scalars and everything else stay strings. Integers with leading zeros stay strings so
// that "0755" or "007" are not silently changed.
nlohmann::json scalar_to_json(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() != "?") return s;  // quoted ("!") or explicitly tagged: keep the text
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  std::string_view digits = s;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.remove_prefix(1);
  if (all_digits(digits) && (digits.size() == 1 || digits[0] != '0')) {
    if (auto v = to_int(s[0] == '+' ? std::string_view(s).substr(1) : std::string_view(s)))
      return *v;
    return s;  // beyond int64: keep the text
  }
  // A float needs a '.' or an exponent, and digits before or after the '.'.
  bool has_digit = false, has_point_or_exp = false, ok = !digits.empty();
  for (size_t i = 0; ok && i < digits.size(); ++i) {
    char c = digits[i];
    if (c >= '0' && c <= '9') {
      has_digit = true;
    } else if (c == '.' && !has_point_or_exp) {
      has_point_or_exp = true;
    } else if ((c == 'e' || c == 'E') && has_digit && i + 1 < digits.size()) {
      has_point_or_exp = true;
      size_t j = i + 1;
      if (digits[j] == '+' || digits[j] == '-') ++j;
      ok = all_digits(digits.substr(j));
      break;
    } else {
      ok = false;
    }
  }
  if (ok && has_digit && has_point_or_exp) {
    double d = 0;
    auto [p, ec] = std::from_chars(s.data() + (s[0] == '+' ? 1 : 0), s.data() + s.size(), d);
    if (ec == std::errc() && p == s.data() + s.size()) return d;
  }
  return s;
}

class Parser {
 public:
  explicit Parser(const std::string& origin) : origin_(origin) {}

  Result<Config> parse(const YAML::Node& root) {
    Config cfg;
    auto top = TRY(fields(root, "", kTopKeys, /*null_is_empty=*/true));
    if (const YAML::Node* server = top.get("server")) TRY(parse_server(*server, cfg.server));
    cfg.server.state_dir = make_absolute(cfg.server.state_dir);
    if (const YAML::Node* restore = top.get("restore")) {
      Fields f = TRY(fields(*restore, "restore", kRestoreKeys, /*null_is_empty=*/true));
      TRY(set_size(f, "max_expanded_bytes", 1, uint64_t{1} << 50, cfg.restore.max_expanded_bytes));
    }

    const YAML::Node* clusters = top.get("clusters");
    if (!clusters) return fail(root, "clusters", "missing; at least one cluster is required");
    if (!clusters->IsSequence())
      return fail(*clusters, "clusters", "expected a list of clusters, got " + describe(*clusters));
    if (clusters->size() == 0)
      return fail(*clusters, "clusters", "empty; at least one cluster is required");
    std::map<std::string, std::string> names;  // name -> key path of its first use
    for (size_t i = 0; i < clusters->size(); ++i) {
      std::string path = index("clusters", i);
      YAML::Node node = (*clusters)[i];
      ClusterConfig c = TRY(parse_cluster(node, path));
      auto [it, inserted] = names.emplace(c.name, path);
      if (!inserted)
        return fail(node, join(path, "name"),
                    "cluster name '" + c.name + "' is already used by " + it->second);
      cfg.clusters.push_back(std::move(c));
    }
    return cfg;
  }

 private:
  // The keys of one YAML map, checked against the allowed ones.
  struct Fields {
    std::string path;
    std::vector<std::pair<std::string, YAML::Node>> entries;
    // The value of `key`, or nullptr when absent or null (`key:` alone means "not set").
    const YAML::Node* get(std::string_view key) const {
      for (const auto& [k, v] : entries)
        if (k == key) return v.IsNull() ? nullptr : &v;
      return nullptr;
    }
  };

  std::string loc(const YAML::Node& n) const {
    YAML::Mark m = n.Mark();
    if (m.is_null()) return origin_;
    return origin_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  }

  std::unexpected<Error> fail(const YAML::Node& at, const std::string& path,
                              const std::string& what) const {
    return invalid_argument(path, path + ": " + what + " (" + loc(at) + ")");
  }

  // `allowed` empty: any key (source parameters).
  Result<Fields> fields(const YAML::Node& n, const std::string& path, Keys allowed,
                        bool null_is_empty = false) const {
    Fields f{.path = path};
    if (n.IsNull() && null_is_empty) return f;
    std::string what = path.empty() ? std::string("the configuration") : path;
    if (!n.IsMap()) {
      return invalid_argument(
          path.empty() ? origin_ : path,
          what + ": expected a map of keys, got " + describe(n) + " (" + loc(n) + ")");
    }
    for (const auto& kv : n) {
      // Copies: a yaml-cpp map iterator hands out a temporary pair, so a reference would dangle.
      YAML::Node key = kv.first;
      YAML::Node value = kv.second;
      if (!key.IsScalar() || key.Scalar().empty())
        return fail(key, path.empty() ? origin_ : path,
                    "keys must be plain words, got " + describe(key));
      std::string name = key.Scalar();
      std::string key_path = join(path, name);
      if (allowed.size() != 0 && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        std::string msg = "unknown key '" + key_path + "' in " + loc(key);
        size_t best = 3;
        std::string_view hint;
        for (std::string_view a : allowed) {
          size_t d = edit_distance(name, a);
          if (d < best && d < a.size()) best = d, hint = a;
        }
        if (!hint.empty()) msg += "; did you mean '" + std::string(hint) + "'?";
        return invalid_argument(key_path, msg);
      }
      for (const auto& [k, v] : f.entries)
        if (k == name) return fail(key, key_path, "duplicate key");
      f.entries.emplace_back(std::move(name), std::move(value));
    }
    return f;
  }

  // A string value; nullopt when absent. Empty strings count as absent.
  Result<std::optional<std::string>> str(const Fields& f, std::string_view key) const {
    const YAML::Node* n = f.get(key);
    if (!n) return std::nullopt;
    if (!n->IsScalar())
      return fail(*n, join(f.path, key), "expected a string, got " + describe(*n));
    if (n->Scalar().empty()) return std::nullopt;
    return n->Scalar();
  }

  Status set_str(const Fields& f, std::string_view key, std::string& out) const {
    if (auto v = TRY(str(f, key))) out = std::move(*v);
    return ok();
  }

  Status set_bool(const Fields& f, std::string_view key, bool& out) const {
    const YAML::Node* n = f.get(key);
    if (!n) return ok();
    nlohmann::json v = n->IsScalar() ? scalar_to_json(*n) : nlohmann::json();
    if (!v.is_boolean())
      return fail(*n, join(f.path, key), "expected true or false, got " + describe(*n));
    out = v.get<bool>();
    return ok();
  }

  Status set_int(const Fields& f, std::string_view key, int lo, int hi, int& out) const {
    const YAML::Node* n = f.get(key);
    if (!n) return ok();
    std::string expected = "expected a whole number from " + std::to_string(lo) + " to " +
                           std::to_string(hi) + ", got " + describe(*n);
    if (!n->IsScalar() || !all_digits(n->Scalar())) return fail(*n, join(f.path, key), expected);
    auto v = to_int(n->Scalar());
    if (!v || *v < lo || *v > hi) return fail(*n, join(f.path, key), expected);
    out = static_cast<int>(*v);
    return ok();
  }

  // A byte size: "16MiB", "512 KiB", "1GiB" or a plain number of bytes, within [min, max].
  Status set_size(const Fields& f, std::string_view key, uint64_t min, uint64_t max,
                  uint64_t& out) const {
    const YAML::Node* n = f.get(key);
    if (!n) return ok();
    std::string path = join(f.path, key);
    auto bad = [&] {
      return fail(*n, path,
                  "expected a size such as 16MiB (units B, KiB, MiB, GiB) between " +
                      std::to_string(min >> 20) + "MiB and " + std::to_string(max >> 30) +
                      "GiB, got " + describe(*n));
    };
    if (!n->IsScalar()) return bad();
    const std::string& text = n->Scalar();
    size_t i = 0;
    uint64_t value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (value > (uint64_t{1} << 40)) return bad();
      value = value * 10 + static_cast<uint64_t>(text[i++] - '0');
    }
    if (i == 0) return bad();
    while (i < text.size() && text[i] == ' ') ++i;
    std::string unit = text.substr(i);
    int shift = -1;
    if (unit.empty() || unit == "B") shift = 0;
    if (unit == "KiB") shift = 10;
    if (unit == "MiB") shift = 20;
    if (unit == "GiB") shift = 30;
    if (shift < 0) return bad();
    value <<= shift;
    if (value < min || value > max) return bad();
    out = value;
    return ok();
  }

  Status set_duration(const Fields& f, std::string_view key, int& out) const {
    const YAML::Node* n = f.get(key);
    if (!n) return ok();
    std::string path = join(f.path, key);
    if (!n->IsScalar()) {
      return fail(*n, path, "expected a duration such as 12h, got " + describe(*n));
    }
    auto r = parse_duration(n->Scalar(), path);
    if (!r) {
      r.error().message += " (" + loc(*n) + ")";
      return std::unexpected(std::move(r).error());
    }
    out = static_cast<int>(*r);
    return ok();
  }

  Status set_url(const Fields& f, std::string_view key, std::string_view example,
                 std::string& out) const {
    auto v = TRY(str(f, key));
    if (!v) return ok();
    if (!valid_http_url(*v)) {
      return fail(
          *f.get(key), join(f.path, key),
          "expected an http:// or https:// URL (a port 1-65535, no user:password@) such as " +
              std::string(example) + ", got '" + *v + "'");
    }
    out = std::move(*v);
    return ok();
  }

  Status parse_listen(const YAML::Node& n, const std::string& path, ServerConfig& out) const {
    auto bad = [&](const std::string& why) {
      return fail(n, path,
                  "expected host:port such as 127.0.0.1:8080 (IPv6 as [::1]:8080), got " +
                      describe(n) + (why.empty() ? "" : "; " + why));
    };
    if (!n.IsScalar()) return bad("");
    std::string_view s = n.Scalar();
    std::string host;
    std::string_view port;
    if (s.starts_with("[")) {
      size_t close = s.find(']');
      if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
        return bad("");
      host = std::string(s.substr(1, close - 1));
      in6_addr addr{};
      if (inet_pton(AF_INET6, host.c_str(), &addr) != 1)
        return bad("'" + host + "' is not an IPv6 address");
      port = s.substr(close + 2);
    } else {
      size_t colon = s.rfind(':');
      if (colon == std::string_view::npos) return bad("the port is missing");
      host = std::string(s.substr(0, colon));
      if (host.find(':') != std::string::npos) return bad("write an IPv6 address in brackets");
      if (!valid_hostname(host)) return bad("");
      port = s.substr(colon + 1);
    }
    if (!all_digits(port)) return bad("the port must be a number");
    auto p = to_int(port);
    if (!p || *p < 1 || *p > 65535) return bad("the port must be from 1 to 65535");
    out.listen_host = std::move(host);
    out.listen_port = static_cast<int>(*p);
    return ok();
  }

  Status parse_server(const YAML::Node& n, ServerConfig& out) const {
    Fields f = TRY(fields(n, "server", kServerKeys, /*null_is_empty=*/true));
    if (const YAML::Node* listen = f.get("listen"))
      TRY(parse_listen(*listen, "server.listen", out));
    TRY(set_str(f, "state_dir", out.state_dir));
    TRY(set_str(f, "tls_cert_file", out.tls_cert_file));
    TRY(set_str(f, "tls_key_file", out.tls_key_file));
    if (out.tls_cert_file.empty() != out.tls_key_file.empty()) {
      bool cert = !out.tls_cert_file.empty();
      std::string_view set = cert ? "tls_cert_file" : "tls_key_file";
      std::string_view missing = cert ? "tls_key_file" : "tls_cert_file";
      return fail(*f.get(set), join("server", missing),
                  "missing; " + std::string(set) + " is set, and HTTPS needs both " +
                      "tls_cert_file and tls_key_file (or neither, for plain HTTP)");
    }
    TRY(set_duration(f, "token_ttl", out.token_ttl_seconds));
    TRY(set_int(f, "gzip_level", 1, 9, out.gzip_level));
    if (f.get("gzip_level"))  // the older key keeps its meaning: a zlib level
      out.compression = {.engine = io::DeflateEngine::kZlib, .level = out.gzip_level};
    if (const YAML::Node* c = f.get("compression")) {
      if (f.get("gzip_level"))
        return fail(*c, "server.compression",
                    "set either compression or gzip_level (the older key), not both");
      auto text = TRY(str(f, "compression"));
      auto parsed = io::Compression::parse(text.value_or(""), "server.compression");
      if (!parsed) return fail(*c, "server.compression", parsed.error().message);
      out.compression = *parsed;
    }
    TRY(set_str(f, "console_dir", out.console_dir));
    TRY(set_url(f, "webhook_url", "https://alerts.example.com/flinkbr", out.webhook_url));
    TRY(set_bool(f, "webhook_on_success", out.webhook_on_success));
    TRY(set_str(f, "webhook_secret_file", out.webhook_secret_file));
    if (out.webhook_url.empty()) {
      for (std::string_view key : {"webhook_on_success", "webhook_secret_file"})
        if (const YAML::Node* n = f.get(key))
          return fail(*n, join("server", key), "set server.webhook_url too, or remove this key");
    }
    // The URI and the password are checked where they are used (store/database.cc, with libpq).
    TRY(set_str(f, "database", out.database));
    TRY(set_str(f, "database_password_file", out.database_password_file));
    if (!out.database_password_file.empty() && out.database.empty())
      return fail(*f.get("database_password_file"), "server.database_password_file",
                  "set without server.database; the password file is for a PostgreSQL state "
                  "database (without server.database the state is in SQLite)");
    TRY(parse_lease(f, out));
    TRY(set_duration(f, "relay_wait", out.relay_wait_seconds));
    if (const YAML::Node* n = f.get("relay_wait"); n && out.relay_wait_seconds > 600)
      return fail(*n, "server.relay_wait",
                  "at most 10m: a relayed call must not hold its client longer, got " +
                      std::to_string(out.relay_wait_seconds) + "s");
    return ok();
  }

  // The manager group's election (group/election.h): an active renews its lease every
  // lease_renew and a standby takes over once it went unrenewed for lease_timeout. The active
  // must get several renewals in before its own deadline (lease_timeout less a quarter).
  Status parse_lease(const Fields& f, ServerConfig& out) const {
    TRY(set_duration(f, "lease_timeout", out.lease_timeout_seconds));
    TRY(set_duration(f, "lease_renew", out.lease_renew_seconds));
    if (const YAML::Node* n = f.get("lease_timeout"); n && out.lease_timeout_seconds > 600)
      return fail(*n, "server.lease_timeout",
                  "at most 10m: a group must not wait longer than that for a dead manager, got " +
                      std::to_string(out.lease_timeout_seconds) + "s");
    if (out.lease_renew_seconds * 3 > out.lease_timeout_seconds) {
      const YAML::Node* n = f.get("lease_renew") ? f.get("lease_renew") : f.get("lease_timeout");
      return fail(*n, "server.lease_renew",
                  "must be at most a third of server.lease_timeout (" +
                      std::to_string(out.lease_timeout_seconds) + "s), got " +
                      std::to_string(out.lease_renew_seconds) +
                      "s; the active must renew several times before its lease runs out");
    }
    return ok();
  }

  Result<ClusterConfig> parse_cluster(const YAML::Node& n, const std::string& path) const {
    Fields f = TRY(fields(n, path, kClusterKeys));
    ClusterConfig c;
    auto name = TRY(str(f, "name"));
    if (!name) return fail(n, join(path, "name"), "missing; every cluster needs a name");
    if (!valid_name(*name))
      return fail(*f.get("name"), join(path, "name"),
                  std::string(kNameRule) + ", got '" + *name + "'");
    c.name = std::move(*name);

    TRY(set_str(f, "version", c.version));
    TRY(set_str(f, "version_command", c.version_command));
    if (!c.version.empty() && !c.version_command.empty()) {
      return fail(*f.get("version_command"), join(path, "version_command"),
                  "set either version or version_command, not both");
    }
    if (c.version.empty() && c.version_command.empty()) {
      return fail(n, join(path, "version"),
                  "missing; set version (the system version, e.g. \"1.18.1\") or "
                  "version_command (a shell command that prints it)");
    }

    if (const YAML::Node* service = f.get("service"))
      TRY(parse_service(*service, join(path, "service"), c.service));
    TRY(set_str(f, "hadoop_conf_dir", c.hadoop_conf_dir));
    TRY(set_str(f, "hdfs_user", c.hdfs_user));
    TRY(set_int(f, "webhdfs_port", 1, 65535, c.webhdfs_port));
    TRY(set_url(f, "yarn_rm_url", "http://resourcemanager:8088", c.yarn_rm_url));
    TRY(set_str(f, "hdfs_auth", c.hdfs_auth));
    if (c.hdfs_auth != "simple" && c.hdfs_auth != "kerberos")
      return fail(*f.get("hdfs_auth"), join(path, "hdfs_auth"),
                  "expected 'simple' or 'kerberos', got '" + c.hdfs_auth + "'");
    TRY(set_str(f, "hdfs_ca_file", c.hdfs_ca_file));
    TRY(set_str(f, "webhdfs_scheme", c.webhdfs_scheme));
    if (c.webhdfs_scheme != "http" && c.webhdfs_scheme != "https")
      return fail(*f.get("webhdfs_scheme"), join(path, "webhdfs_scheme"),
                  "expected 'http' or 'https', got '" + c.webhdfs_scheme + "'");
    if (const YAML::Node* obs = f.get("obs")) TRY(parse_obs(*obs, join(path, "obs"), c.obs));

    std::map<std::string, std::string> source_names;  // name -> key path of its first use
    TRY(parse_sources(f, "metadata", source_names, c.metadata));
    TRY(parse_sources(f, "service_data", source_names, c.service_data));
    return c;
  }

  Status parse_service(const YAML::Node& n, const std::string& path, ServiceConfig& out) const {
    Fields f = TRY(fields(n, path, kServiceKeys, /*null_is_empty=*/true));
    TRY(set_str(f, "status", out.status));
    TRY(set_str(f, "stop", out.stop));
    TRY(set_str(f, "start", out.start));
    TRY(set_url(f, "rest_url", "http://jobmanager:8081", out.rest_url));
    TRY(set_duration(f, "timeout", out.timeout_seconds));
    return ok();
  }

  Status parse_obs(const YAML::Node& n, const std::string& path, ObsConfig& out) const {
    Fields f = TRY(fields(n, path, kObsKeys, /*null_is_empty=*/true));
    TRY(set_url(f, "endpoint", "https://obs.example.com", out.endpoint));
    TRY(set_str(f, "region", out.region));
    TRY(set_str(f, "credentials_file", out.credentials_file));
    TRY(set_str(f, "addressing", out.addressing));
    TRY(set_size(f, "part_size", uint64_t{5} << 20, uint64_t{5} << 30, out.part_size));
    if (!out.addressing.empty() && out.addressing != "path" && out.addressing != "virtual") {
      return fail(*f.get("addressing"), join(path, "addressing"),
                  "expected 'path' or 'virtual', got '" + out.addressing + "'");
    }
    return ok();
  }

  Status parse_sources(const Fields& cluster, std::string_view key,
                       std::map<std::string, std::string>& names,
                       std::vector<SourceConfig>& out) const {
    const YAML::Node* list = cluster.get(key);
    if (!list) return ok();
    std::string path = join(cluster.path, key);
    if (!list->IsSequence())
      return fail(*list, path, "expected a list of sources, got " + describe(*list));
    for (size_t i = 0; i < list->size(); ++i) {
      SourceConfig s;
      s.key_path = index(path, i);
      YAML::Node node = (*list)[i];
      Fields f = TRY(fields(node, s.key_path, {}));
      auto name = TRY(str(f, "name"));
      if (!name) return fail(node, join(s.key_path, "name"), "missing; every source needs a name");
      if (!valid_name(*name)) {
        return fail(*f.get("name"), join(s.key_path, "name"),
                    std::string(kNameRule) + ", got '" + *name + "'");
      }
      auto [it, inserted] = names.emplace(*name, s.key_path);
      if (!inserted) {
        return fail(*f.get("name"), join(s.key_path, "name"),
                    "source name '" + *name + "' is already used by " + it->second +
                        " (names are unique within a cluster, metadata and service_data together)");
      }
      s.name = std::move(*name);
      auto type = TRY(str(f, "type"));
      if (!type) {
        return fail(node, join(s.key_path, "type"),
                    "missing; every source needs a type such as files, zookeeper or postgres");
      }
      s.type = std::move(*type);
      for (const auto& [k, v] : f.entries) {
        if (k == "name" || k == "type") continue;
        s.params[k] = TRY(to_json(v, join(s.key_path, k)));
      }
      out.push_back(std::move(s));
    }
    return ok();
  }

  Result<nlohmann::json> to_json(const YAML::Node& n, const std::string& path) const {
    switch (n.Type()) {
      case YAML::NodeType::Scalar:
        return scalar_to_json(n);
      case YAML::NodeType::Sequence: {
        nlohmann::json a = nlohmann::json::array();
        for (size_t i = 0; i < n.size(); ++i) a.push_back(TRY(to_json(n[i], index(path, i))));
        return a;
      }
      case YAML::NodeType::Map: {
        Fields f = TRY(fields(n, path, {}));
        nlohmann::json o = nlohmann::json::object();
        for (const auto& [k, v] : f.entries) o[k] = TRY(to_json(v, join(path, k)));
        return o;
      }
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        break;
    }
    return nlohmann::json(nullptr);
  }

  const std::string& origin_;
};

}  // namespace

const ClusterConfig* Config::find_cluster(std::string_view name) const {
  for (const auto& c : clusters)
    if (c.name == name) return &c;
  return nullptr;
}

Result<int64_t> parse_duration(std::string_view text, std::string_view field) {
  std::string f(field);
  auto bad = [&](std::string_view why) {
    return invalid_argument(f, f + ": expected a duration such as 12h (a whole number followed " +
                                   "by s, m, h or d), got '" + std::string(text) + "'" +
                                   std::string(why));
  };
  if (text.size() < 2) return bad("");
  int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      return bad("");
  }
  std::string_view digits = text.substr(0, text.size() - 1);
  if (!all_digits(digits)) return bad("");
  auto n = to_int(digits);
  if (!n || *n > kMaxDurationSeconds / unit) return bad("; at most 3650d");
  if (*n == 0) return bad("; it must be longer than zero");
  return *n * unit;
}

Result<Config> parse_config(const std::string& yaml_text, const std::string& origin) {
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(yaml_text);
    if (docs.size() > 1) {
      return invalid_argument(
          origin, origin + ": expected one YAML document, found " + std::to_string(docs.size()));
    }
    return Parser(origin).parse(docs.empty() ? YAML::Node() : docs[0]);
  } catch (const YAML::Exception& e) {
    std::string where = origin;
    if (!e.mark.is_null())
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    return invalid_argument(origin, where + ": " + e.msg);
  } catch (const std::exception& e) {
    return internal_error(origin + ": reading the configuration: " + e.what());
  }
}

Result<Config> load_config(const std::string& path) {
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (path.empty() || st.type() == fs::file_type::not_found)
    return not_found("configuration file " + path + " does not exist");
  if (ec) return io_error("configuration file " + path + ": " + ec.message());
  if (st.type() == fs::file_type::directory)
    return io_error("configuration file " + path + " is a directory");

  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return errno_error("opening configuration file " + path, errno);
  std::string text;
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) {
    text.append(buf, n);
    if (text.size() > kMaxConfigBytes) {
      std::fclose(file);
      return io_error("configuration file " + path + " is larger than 16 MiB");
    }
  }
  int err = std::ferror(file) ? errno : 0;
  std::fclose(file);
  if (err) return errno_error("reading configuration file " + path, err);
  return parse_config(text, path);
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

Config embedded_default(const std::string& state_dir) {
  Config cfg;
  cfg.server.listen_host = "127.0.0.1";
  cfg.server.listen_port = 8080;
  cfg.server.state_dir = make_absolute(state_dir.empty() ? "./flinkbr-state" : state_dir);
  const std::string& dir = cfg.server.state_dir;

  ClusterConfig c;
  c.name = "demo";
  c.version = "1.18.1";
  auto files = [&](std::string name, std::string_view sub, std::string key_path) {
    SourceConfig s;
    s.name = std::move(name);
    s.type = "files";
    s.params = {{"uri", file_uri(dir + "/demo/flink/" + std::string(sub))}};
    s.key_path = std::move(key_path);
    return s;
  };
  c.metadata.push_back(files("ha-storage", "ha", "clusters[0].metadata[0]"));
  c.metadata.push_back(files("conf", "conf", "clusters[0].metadata[1]"));
  c.service_data.push_back(files("savepoints", "savepoints", "clusters[0].service_data[0]"));

  // The demo's "Flink service" is a sleeping placeholder process whose pid is kept in a file:
  // enough for stop/start/status to behave like a real service. start and stop are idempotent.
  const std::string qdir = shell_quote(dir + "/demo");
  const std::string qpid = shell_quote(dir + "/demo/flink.pid");
  const std::string running = "[ -f " + qpid + " ] && kill -0 \"$(cat " + qpid + ")\" 2>/dev/null";
  c.service.status = running + " && exit 0; exit 3";
  c.service.start = "mkdir -p " + qdir + " || exit 1; " + running +
                    " && exit 0; nohup sleep 2147483647 </dev/null >/dev/null 2>&1 & echo $! > " +
                    qpid;
  c.service.stop = "if [ -f " + qpid + " ]; then kill \"$(cat " + qpid + ")\" 2>/dev/null; rm -f " +
                   qpid + "; fi; exit 0";
  c.service.timeout_seconds = 30;
  cfg.clusters.push_back(std::move(c));
  return cfg;
}

}  // namespace flinkbr::config
