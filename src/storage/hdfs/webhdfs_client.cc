#include "storage/hdfs/webhdfs_client.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/text.h"

namespace flinkbr::storage::hdfs {

namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

constexpr size_t kJsonBodyLimit = size_t{64} << 20;   // a LISTSTATUS page of a huge directory
constexpr size_t kErrorBodyLimit = size_t{64} << 10;  // an error document

// The short name of a Java exception class ("org.apache...StandbyException" -> "StandbyException").
std::string short_name(const std::string& name) {
  size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

bool retryable_exception(const std::string& e) {
  return e == "RetriableException" || e == "SafeModeException" || e == "StandbyException" ||
         e == "AlreadyBeingCreatedException" || e == "RecoveryInProgressException" ||
         e == "ObserverRetryOnActiveException";
}

// A string member of a JSON object, "" when absent or of another type: answers come from the
// network, and nlohmann's value() throws on a member of the wrong type.
std::string string_member(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<FileStatus> parse_file_status(const nlohmann::json& j) {
  if (!j.is_object()) return io_error("a FileStatus is not a JSON object");
  FileStatus s;
  s.path_suffix = string_member(j, "pathSuffix");
  std::string type = j.contains("type") ? string_member(j, "type") : "FILE";
  s.is_dir = type == "DIRECTORY";
  // Integers only: a float or a negative length does not convert (found by
  // fuzz/fuzz_webhdfs_json.cc: 1.4e85 converted to an integer is undefined behaviour).
  if (auto it = j.find("length"); it != j.end()) {
    if (!it->is_number_unsigned()) return io_error("a FileStatus has a malformed length");
    s.length = it->get<uint64_t>();
  }
  if (auto it = j.find("modificationTime"); it != j.end()) {
    if (!it->is_number_integer()) return io_error("a FileStatus has a malformed modificationTime");
    s.modification_ms = it->get<int64_t>();
  }
  std::string perm = string_member(j, "permission");
  uint32_t bits = 0;
  for (char c : perm) {
    // At most 07777 (sticky bit and all): more digits would wrap around.
    if (c < '0' || c > '7' || bits > 0777)
      return io_error("a FileStatus has a malformed permission '" + perm + "'");
    bits = bits * 8 + static_cast<uint32_t>(c - '0');
  }
  s.permission = bits;
  s.owner = string_member(j, "owner");
  return s;
}

std::string octal(uint32_t bits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%o", bits & 07777);
  return buf;
}

}  // namespace

RemoteException parse_remote_exception(const std::string& body) {
  RemoteException out;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return out;
  auto it = j.find("RemoteException");
  if (it == j.end() || !it->is_object()) return out;
  out.exception = string_member(*it, "exception");
  if (out.exception.empty()) out.exception = short_name(string_member(*it, "javaClassName"));
  out.message = string_member(*it, "message");
  return out;
}

Result<FileStatus> parse_file_status_answer(const std::string& body, const std::string& where) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("FileStatus"))
    return io_error("HDFS answered GETFILESTATUS of " + where + " without a FileStatus");
  return with_context(parse_file_status(j["FileStatus"]), "stat of " + where);
}

Result<std::vector<FileStatus>> parse_liststatus_answer(const std::string& body,
                                                        const std::string& where) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded())
    return io_error("HDFS answered LISTSTATUS of " + where + " with malformed JSON");
  std::vector<FileStatus> out;
  try {
    for (const auto& f : j.at("FileStatuses").at("FileStatus"))
      out.push_back(TRY_CTX(parse_file_status(f), "listing " + where));
  } catch (const nlohmann::json::exception&) {
    return io_error("HDFS answered LISTSTATUS of " + where + " without FileStatuses");
  }
  return out;
}

std::optional<bool> parse_boolean_answer(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto it = j.find("boolean");
  if (it == j.end() || !it->is_boolean()) return std::nullopt;
  return it->get<bool>();
}

Result<ListingPage> parse_listing_page_answer(const std::string& body, const std::string& where) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  ListingPage page;
  try {
    const auto& listing = j.at("DirectoryListing");
    for (const auto& f : listing.at("partialListing").at("FileStatuses").at("FileStatus"))
      page.entries.push_back(TRY_CTX(parse_file_status(f), "listing " + where));
    // An integer or absent: a float would convert with undefined behaviour, and taking it for 0
    // would end a listing early.
    if (auto it = listing.find("remainingEntries"); it != listing.end()) {
      if (!it->is_number_integer())
        return io_error("HDFS answered LISTSTATUS_BATCH of " + where +
                        " with a malformed remainingEntries");
      page.remaining = it->get<int64_t>();
    }
  } catch (const nlohmann::json::exception&) {
    return io_error("HDFS answered LISTSTATUS_BATCH of " + where + " without a DirectoryListing");
  }
  return page;
}

namespace {

// The context of one curl exchange, shared by the callbacks.
struct Exchange {
  CURL* handle = nullptr;
  WebHdfsClient::Transfer* transfer = nullptr;
  WebHdfsClient::Response* response = nullptr;
  bool overflow = false;
};

size_t write_cb(char* ptr, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(x->handle, CURLINFO_RESPONSE_CODE, &status);
  if (status / 100 == 2 && x->transfer && x->transfer->sink) {
    (*x->transfer->sink)(std::string_view(ptr, len));
    x->transfer->delivered += len;
    return len;
  }
  size_t limit = status / 100 == 2 ? kJsonBodyLimit : kErrorBodyLimit;
  if (x->response->body.size() + len > limit) {
    x->overflow = true;
    return 0;  // more than any answer of this kind should be: cut the transfer
  }
  x->response->body.append(ptr, len);
  return len;
}

size_t read_cb(char* buffer, size_t size, size_t n, void* user) {
  auto* t = static_cast<WebHdfsClient::Transfer*>(user);
  size_t room = size * n;
  size_t left = t->upload.size() - t->upload_pos;
  size_t k = std::min(room, left);
  if (k > 0) std::memcpy(buffer, t->upload.data() + t->upload_pos, k);
  t->upload_pos += k;
  return k;
}

// curl rewinds the body when it must send it again (an authentication round, a 417 answer).
int seek_cb(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<WebHdfsClient::Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->upload.size())
    return CURL_SEEKFUNC_CANTSEEK;
  t->upload_pos = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

}  // namespace

WebHdfsClient::WebHdfsClient(WebHdfsOptions options)
    : options_(std::move(options)), rng_(std::random_device{}()) {
  curl::global_init();
  if (options_.max_attempts < 1) options_.max_attempts = 1;
}

std::string WebHdfsClient::uri(const std::string& path) const {
  return "hdfs://" + options_.nameservice + path;
}

void WebHdfsClient::backoff(int attempt) {
  int64_t ms = int64_t{options_.retry_base_ms} << std::min(attempt - 1, 10);
  ms = std::min<int64_t>(ms, 10000);
  std::uniform_int_distribution<int64_t> jitter(0, ms / 4 + 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms + jitter(rng_)));
}

std::string WebHdfsClient::url(size_t namenode, const std::string& op, const std::string& path,
                               const Params& params) const {
  std::string u =
      options_.namenodes[namenode] + "/webhdfs/v1" + percent_encode(path, "/") + "?op=" + op;
  if (!options_.kerberos && !options_.user.empty())
    u += "&user.name=" + percent_encode(options_.user);
  for (const auto& [k, v] : params) u += "&" + k + "=" + percent_encode(v);
  return u;
}

Result<WebHdfsClient::Response> WebHdfsClient::perform(const std::string& method,
                                                       const std::string& target,
                                                       Transfer* transfer) {
  if (!curl_) {
    curl_.reset(curl_easy_init());
    if (!curl_) return internal_error("curl_easy_init failed");
  }
  CURL* c = curl_.get();
  curl_easy_reset(c);
  Transfer none;
  Transfer* t = transfer ? transfer : &none;
  t->upload_pos = 0;
  Response resp;
  Exchange x{.handle = c, .transfer = t, .response = &resp};

  curl::Slist headers;
  if (method == "PUT" || method == "POST") headers.append("Content-Type: application/octet-stream");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, target.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (options_.kerberos) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_NEGOTIATE));
    curl_easy_setopt(c, CURLOPT_USERPWD, ":");  // the credentials come from the ticket cache
  }
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, options_.stall_timeout_s);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, curl::header_callback);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp.headers);
  if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (method == "PUT") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t->upload.size()));
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, t);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_cb);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, t);
  } else if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->upload.size()));
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, t);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_cb);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, t);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    if (x.overflow) return io_error("the answer of " + method + " " + target + " is too large");
    std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    while (!detail.empty() && detail.back() == '\n') detail.pop_back();
    // The URL may carry a delegation token (DataNode locations): name only its host.
    std::string host = target.substr(0, target.find('/', target.find("://") + 3));
    return make_error(Errc::kUnavailable, host + " did not answer: " + detail, {},
                      curl::retryable(rc));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

Result<WebHdfsClient::Response> WebHdfsClient::namenode(const std::string& method,
                                                        const std::string& op,
                                                        const std::string& path,
                                                        const Params& params) {
  const size_t n = options_.namenodes.size();
  if (n == 0) return internal_error("WebHDFS client without NameNodes");
  for (int attempt = 1;; ++attempt) {
    std::vector<std::string> standby;
    std::optional<Error> failure;
    std::optional<Response> retry_answer;
    for (size_t k = 0; k < n; ++k) {
      size_t i = (active_ + k) % n;
      auto r = perform(method, url(i, op, path, params), nullptr);
      if (!r) {
        if (!r.error().retryable) return std::unexpected(r.error());
        failure = r.error();
        continue;  // this NameNode is down: try the next one
      }
      RemoteException ex =
          r->status / 100 == 2 ? RemoteException{} : parse_remote_exception(r->body);
      if (ex.exception == "StandbyException") {
        standby.push_back(options_.namenodes[i]);
        continue;
      }
      if (retryable_exception(ex.exception) || (ex.exception.empty() && r->status >= 502)) {
        retry_answer = std::move(*r);
        active_ = i;
        continue;
      }
      active_ = i;
      return std::move(*r);
    }
    if (attempt >= options_.max_attempts) {
      if (retry_answer) return std::move(*retry_answer);
      if (!standby.empty() && !failure) {
        std::string list;
        for (const auto& s : standby) list += (list.empty() ? "" : ", ") + s;
        std::string text = "no active NameNode for NameService '" + options_.nameservice +
                           "': " + list + (standby.size() == 1 ? " is" : " are") + " standby";
        if (!options_.all_standby_hint.empty()) text += "; " + options_.all_standby_hint;
        return make_error(Errc::kUnavailable, text);
      }
      if (failure) {
        Error e = *failure;
        e.message =
            "no NameNode of NameService '" + options_.nameservice + "' answered: " + e.message;
        return std::unexpected(e);
      }
    }
    backoff(attempt);
  }
}

Error WebHdfsClient::remote_error(const Response& r, const std::string& what,
                                  const std::string& path) const {
  RemoteException ex = parse_remote_exception(r.body);
  const std::string where = uri(path);
  std::string detail = ex.exception.empty()
                           ? "HTTP " + std::to_string(r.status)
                           : ex.exception + (ex.message.empty() ? "" : ": " + ex.message);
  const std::string& e = ex.exception;
  if (e == "FileNotFoundException")
    return Error{Errc::kNotFound, "HDFS path " + where + " does not exist"};
  if ((e.empty() && (r.status == 404 || r.status == 400 || r.status == 405)) ||
      e == "NotFoundException")
    // A NameNode answers every WebHDFS error with a RemoteException document, and a missing
    // path with FileNotFoundException; NotFoundException is what other Hadoop web servers (a
    // ResourceManager, a DataNode's UI) answer for a resource they do not have.
    return Error{Errc::kFailedPrecondition,
                 options_.namenodes[active_] + " (NameService '" + options_.nameservice +
                     "') does not answer as a WebHDFS NameNode (HTTP " + std::to_string(r.status) +
                     " to " + what + " " + where + ")"};
  if (e == "AccessControlException" || e == "SecurityException" || (e.empty() && r.status == 403)) {
    std::string who = options_.kerberos ? std::string("the Kerberos principal of flinkbr")
                                        : "user '" + options_.user + "'";
    return Error{Errc::kPermissionDenied,
                 "HDFS denied " + what + " " + where + " to " + who + " (" + detail + ")"};
  }
  if (r.status == 401)
    return Error{Errc::kUnauthenticated,
                 "HDFS refused the authentication of " + what + " " + where +
                     (options_.kerberos ? " (SPNEGO: is there a valid Kerberos ticket?)"
                                        : " (the cluster may need Kerberos: hdfs_auth)")};
  if (e == "FileAlreadyExistsException")
    return Error{Errc::kAlreadyExists, "HDFS path " + where + " already exists"};
  if (e == "ParentNotDirectoryException" || e == "PathIsNotEmptyDirectoryException" ||
      e == "PathIsNotDirectoryException" || e == "DSQuotaExceededException" ||
      e == "NSQuotaExceededException")
    return Error{Errc::kFailedPrecondition, "HDFS " + what + " " + where + ": " + detail};
  if (retryable_exception(e) || (e.empty() && r.status >= 500))
    return Error{Errc::kUnavailable, "HDFS " + what + " " + where + ": " + detail, {}, true};
  return Error{Errc::kIOError, "HDFS " + what + " " + where + " failed: " + detail};
}

Result<std::string> WebHdfsClient::namenode_json(const std::string& method, const std::string& op,
                                                 const std::string& path, const Params& params) {
  auto r = TRY(namenode(method, op, path, params));
  if (r.status != 200) {
    std::string what = op == "GETFILESTATUS" ? "stat of"
                       : op == "MKDIRS"      ? "mkdir of"
                       : op == "DELETE"      ? "removing"
                       : op == "RENAME"      ? "renaming"
                                             : "the " + op + " of";
    return std::unexpected(remote_error(r, what, path));
  }
  return std::move(r.body);
}

Result<FileStatus> WebHdfsClient::get_file_status(const std::string& path) {
  auto body = TRY(namenode_json("GET", "GETFILESTATUS", path, {}));
  return parse_file_status_answer(body, uri(path));
}

Result<std::vector<FileStatus>> WebHdfsClient::list_status(const std::string& path) {
  std::vector<FileStatus> out;
  std::string after;
  for (;;) {
    Params params;
    if (!after.empty()) params.emplace_back("startAfter", after);
    auto r = TRY(namenode("GET", "LISTSTATUS_BATCH", path, params));
    if (r.status == 400 && out.empty() && after.empty()) {
      // A NameNode before Hadoop 2.8 does not know the batch operation: one big listing.
      RemoteException ex = parse_remote_exception(r.body);
      if (ex.exception == "IllegalArgumentException" ||
          ex.exception == "UnsupportedOperationException") {
        auto body = TRY(namenode_json("GET", "LISTSTATUS", path, {}));
        return parse_liststatus_answer(body, uri(path));
      }
    }
    if (r.status != 200) return std::unexpected(remote_error(r, "listing", path));
    auto page = TRY(parse_listing_page_answer(r.body, uri(path)));
    size_t before = out.size();
    for (auto& f : page.entries) out.push_back(std::move(f));
    int64_t remaining = page.remaining;
    if (remaining <= 0) return out;
    if (out.size() == before)
      return io_error("HDFS answered an empty LISTSTATUS_BATCH page of " + uri(path) +
                      " with entries remaining");
    after = out.back().path_suffix;
  }
}

Status WebHdfsClient::mkdirs(const std::string& path, std::optional<uint32_t> permission) {
  Params params;
  if (permission) params.emplace_back("permission", octal(*permission));
  auto body = TRY(namenode_json("PUT", "MKDIRS", path, params));
  if (!parse_boolean_answer(body).value_or(false))
    return io_error("HDFS could not create the directory " + uri(path));
  return ok();
}

Result<bool> WebHdfsClient::rename(const std::string& from, const std::string& to) {
  auto body = TRY(namenode_json("PUT", "RENAME", from, {{"destination", to}}));
  auto answer = parse_boolean_answer(body);
  if (!answer) return io_error("HDFS answered RENAME of " + uri(from) + " without a boolean");
  return *answer;
}

Result<bool> WebHdfsClient::remove(const std::string& path, bool recursive) {
  auto body =
      TRY(namenode_json("DELETE", "DELETE", path, {{"recursive", recursive ? "true" : "false"}}));
  auto answer = parse_boolean_answer(body);
  if (!answer) return io_error("HDFS answered DELETE of " + uri(path) + " without a boolean");
  return *answer;
}

Status WebHdfsClient::set_permission(const std::string& path, uint32_t permission) {
  TRY(namenode_json("PUT", "SETPERMISSION", path, {{"permission", octal(permission)}}));
  return ok();
}

Status WebHdfsClient::set_times(const std::string& path, int64_t modification_ms) {
  TRY(namenode_json("PUT", "SETTIMES", path,
                    {{"modificationtime", std::to_string(modification_ms)}, {"accesstime", "-1"}}));
  return ok();
}

Result<uint64_t> WebHdfsClient::open_range(const std::string& path, uint64_t offset,
                                           uint64_t length,
                                           const std::function<void(std::string_view)>& sink) {
  auto r = TRY(namenode("GET", "OPEN", path,
                        {{"offset", std::to_string(offset)}, {"length", std::to_string(length)}}));
  if (r.status != 307) {
    if (r.status == 200)
      return io_error("HDFS answered OPEN of " + uri(path) +
                      " without redirecting to a DataNode (an HttpFS gateway is not supported)");
    return std::unexpected(remote_error(r, "reading", path));
  }
  std::string location = r.headers["location"];
  if (location.empty())
    return io_error("HDFS redirected OPEN of " + uri(path) + " without a Location");
  Transfer t{.sink = &sink};
  auto d = perform("GET", location, &t);
  if (!d) {
    if (t.delivered > 0) return t.delivered;  // resumed by the caller at the offset reached
    return std::unexpected(
        std::move(d.error()).context("reading " + uri(path) + " from a DataNode"));
  }
  if (d->status != 200) return std::unexpected(remote_error(*d, "reading", path));
  return t.delivered;
}

Status WebHdfsClient::upload(const std::string& method, const std::string& op,
                             const std::string& path, std::span<const char> data,
                             const Params& params) {
  const std::string what = op == "CREATE" ? "writing" : "appending to";
  auto r = TRY(namenode(method, op, path, params));
  if (r.status != 307) {
    if (r.status / 100 == 2)
      return io_error("HDFS answered " + op + " of " + uri(path) +
                      " without redirecting to a DataNode");
    return std::unexpected(remote_error(r, what, path));
  }
  std::string location = r.headers["location"];
  if (location.empty())
    return io_error("HDFS redirected " + op + " of " + uri(path) + " without a Location");
  Transfer t{.upload = data};
  auto d = perform(method, location, &t);
  if (!d) return std::unexpected(std::move(d.error()).context(what + " " + uri(path)));
  if (d->status != 201 && d->status != 200) return std::unexpected(remote_error(*d, what, path));
  return ok();
}

Status WebHdfsClient::create(const std::string& path, std::span<const char> data, bool overwrite,
                             std::optional<uint32_t> permission) {
  Params params{{"overwrite", overwrite ? "true" : "false"}};
  if (permission) params.emplace_back("permission", octal(*permission));
  return upload("PUT", "CREATE", path, data, params);
}

Status WebHdfsClient::append(const std::string& path, std::span<const char> data) {
  return upload("POST", "APPEND", path, data, {});
}

}  // namespace flinkbr::storage::hdfs
