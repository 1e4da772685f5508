// The HTTP side of the CLI: one JSON call of the REST API per method, errors turned back into
// the catalogue of common/result.h so that exit codes follow errc_exit_code.
#include <httplib.h>

#include <cctype>
#include <cstdlib>
#include <functional>

#include "cli/cli.h"
#include "common/text.h"

namespace flinkbr::cli {

using nlohmann::json;

namespace {

struct ServerUrl {
  std::string scheme_host_port;  // what httplib::Client takes
  std::string prefix;            // a path the daemon is served under ("" normally)
};

Result<ServerUrl> parse_server_url(const std::string& url) {
  auto bad = [&] {
    return invalid_argument("server",
                            "--server: '" + url + "' is not a URL such as http://127.0.0.1:8080");
  };
  const size_t sep = url.find("://");
  if (sep == std::string::npos) return bad();
  std::string scheme = url.substr(0, sep);
  for (auto& ch : scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (scheme != "http" && scheme != "https") return bad();
  const std::string rest = url.substr(sep + 3);
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  if (authority.empty() || authority.find_first_of(" \t\r\n?#@") != std::string::npos) return bad();
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return ServerUrl{scheme + "://" + authority, prefix};
}

std::string describe(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "connection refused or host unreachable";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "no answer (the connection was closed or timed out)";
    case httplib::Error::Write:
      return "the connection was closed while sending the request";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the CA certificates";
    case httplib::Error::SSLServerVerification:
      return "the daemon's TLS certificate is not trusted (set FLINKBR_CA_FILE to its CA)";
    default:
      return "request failed (" + httplib::to_string(e) + ")";
  }
}

Errc errc_of_status(int status) {
  switch (status) {
    case 400:
      return Errc::kInvalidArgument;
    case 401:
      return Errc::kUnauthenticated;
    case 403:
      return Errc::kPermissionDenied;
    case 404:
      return Errc::kNotFound;
    case 409:
      return Errc::kConflict;
    case 422:
      return Errc::kCorruption;
    case 502:
    case 503:
      return Errc::kUnavailable;
    case 504:
      return Errc::kTimeout;
    default:
      return status >= 500 ? Errc::kInternal : Errc::kInvalidArgument;
  }
}

// The value of an SSE field: what follows the colon, less one leading space.
std::string field_value(std::string_view v) {
  if (v.starts_with(' ')) v.remove_prefix(1);
  return std::string(v);
}

}  // namespace

std::string normalize_server(std::string url) {
  while (!url.empty() && (url.back() == '/' || url.back() == ' ')) url.pop_back();
  while (!url.empty() && url.front() == ' ') url.erase(0, 1);
  return url;
}

std::string url_segment(std::string_view s) {
  return percent_encode(s);
}

Error error_from_response(int status, std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    Error out;
    out.code = e.contains("code") && e["code"].is_string()
                   ? errc_from_name(e["code"].get<std::string>())
                   : errc_of_status(status);
    if (e.contains("message") && e["message"].is_string()) out.message = e["message"];
    if (e.contains("field") && e["field"].is_string()) out.field = e["field"];
    if (out.message.empty()) out.message = "the daemon answered HTTP " + std::to_string(status);
    return out;
  }
  return Error{errc_of_status(status), "the daemon answered HTTP " + std::to_string(status)};
}

Client::Client(std::string server, std::string token, std::string token_hint)
    : server_(normalize_server(std::move(server))),
      token_(std::move(token)),
      token_hint_(std::move(token_hint)) {}

Result<json> Client::get(const std::string& path) {
  return call("GET", path, nullptr);
}
Result<json> Client::post(const std::string& path, const json& body) {
  return call("POST", path, &body);
}
Result<json> Client::del(const std::string& path) {
  return call("DELETE", path, nullptr);
}

Result<json> Client::get_all(const std::string& path, size_t max) {
  json all = json::array();
  const char sep = path.find('?') == std::string::npos ? '?' : '&';
  int64_t offset = 0;
  while (all.size() < max) {
    const size_t want = std::min<size_t>(1000, max - all.size());
    json page = TRY(
        get(path + sep + "limit=" + std::to_string(want) + "&offset=" + std::to_string(offset)));
    if (!page.is_object() || !page.contains("items") || !page["items"].is_array())
      return internal_error("unexpected answer from " + server_ + path + ": no \"items\" list");
    const size_t n = page["items"].size();
    for (auto& item : page["items"]) all.push_back(std::move(item));
    if (n < want) break;
    offset += static_cast<int64_t>(n);
  }
  return all;
}

Result<json> Client::call(const std::string& method, const std::string& path, const json* body) {
  const ServerUrl url = TRY(parse_server_url(server_));
  httplib::Client http(url.scheme_host_port);
  if (!http.is_valid()) return invalid_argument("server", "--server: cannot use '" + server_ + "'");
  http.set_connection_timeout(10);
  // Service stop/start and dry runs answer once done, which can take minutes.
  http.set_read_timeout(900);
  http.set_write_timeout(60);
  if (const char* ca = std::getenv("FLINKBR_CA_FILE"); ca && *ca) http.set_ca_cert_path(ca);

  httplib::Headers headers = {{"Accept", "application/json"},
                              {"User-Agent", "flinkbr-cli/" FLINKBR_VERSION}};
  if (!token_.empty()) headers.emplace("Authorization", "Bearer " + token_);
  const std::string target = url.prefix + path;

  httplib::Result r =
      method == "GET" ? http.Get(target, headers)
      : method == "POST"
          ? http.Post(target, headers, body ? body->dump() : std::string("{}"), "application/json")
          : http.Delete(target, headers);
  if (!r)
    return make_error(Errc::kUnavailable,
                      "cannot reach the flinkbr daemon at " + server_ + ": " + describe(r.error()),
                      {}, /*retryable=*/true);

  if (r->status >= 200 && r->status < 300) {
    if (r->body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
    json j = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded())
      return internal_error("unexpected answer from " + server_ +
                            ": not JSON (is --server the "
                            "flinkbr daemon?)");
    return j;
  }
  Error e = error_from_response(r->status, r->body);
  if (e.code == Errc::kUnauthenticated && !token_hint_.empty()) {
    if (token_.empty())
      e.message = "not logged in to " + server_ + ": " + token_hint_;
    else
      e.message += "; " + token_hint_;
  }
  return std::unexpected(std::move(e));
}

Status Client::follow_events(
    const std::function<bool(const std::string& type, const json& data)>& on_event,
    const std::function<bool()>& on_tick) {
  const ServerUrl url = TRY(parse_server_url(server_));
  httplib::Client http(url.scheme_host_port);
  if (!http.is_valid()) return invalid_argument("server", "--server: cannot use '" + server_ + "'");
  http.set_connection_timeout(10);
  // The daemon writes a keep-alive every 15 s; silence for longer means a dead connection.
  http.set_read_timeout(40);
  if (const char* ca = std::getenv("FLINKBR_CA_FILE"); ca && *ca) http.set_ca_cert_path(ca);
  httplib::Headers headers = {{"Accept", "text/event-stream"},
                              {"User-Agent", "flinkbr-cli/" FLINKBR_VERSION}};
  if (!token_.empty()) headers.emplace("Authorization", "Bearer " + token_);

  int status = 0;
  bool stopped = false;
  std::string buffer;  // an event not complete yet
  std::string error_body;
  auto r = http.Get(
      url.prefix + "/api/v1/events", headers,
      [&](const httplib::Response& res) {
        status = res.status;
        return true;
      },
      [&](const char* data, size_t n) {
        if (status != 200) {
          if (error_body.size() < 65536) error_body.append(data, n);
          return true;
        }
        buffer.append(data, n);
        // Events end with a blank line; "event:" names the type, "data:" lines hold the JSON.
        for (size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
          const std::string frame = buffer.substr(0, end);
          buffer.erase(0, end + 2);
          std::string type = "message", payload;
          size_t pos = 0;
          while (pos <= frame.size()) {
            size_t eol = frame.find('\n', pos);
            if (eol == std::string::npos) eol = frame.size();
            const std::string_view line(frame.data() + pos, eol - pos);
            if (line.starts_with("event:")) type = field_value(line.substr(6));
            if (line.starts_with("data:")) payload += field_value(line.substr(5));
            pos = eol + 1;
          }
          if (payload.empty()) continue;
          json d = json::parse(payload, nullptr, /*allow_exceptions=*/false);
          if (d.is_discarded()) continue;
          if (!on_event(type, d)) {
            stopped = true;
            return false;
          }
        }
        if (buffer.size() > (1u << 20)) buffer.clear();  // no event is that large
        if (!on_tick()) {
          stopped = true;
          return false;
        }
        return true;
      });
  if (stopped) return ok();
  if (status != 0 && status != 200) return std::unexpected(error_from_response(status, error_body));
  if (!r)
    return make_error(Errc::kUnavailable,
                      "the event stream of " + server_ + " broke: " + describe(r.error()), {},
                      /*retryable=*/true);
  return make_error(Errc::kUnavailable, "the event stream of " + server_ + " ended", {},
                    /*retryable=*/true);
}

}  // namespace flinkbr::cli
