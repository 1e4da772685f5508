#include "storage/s3/s3_driver.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "storage/chunked_reader.h"
#include "storage/curl_util.h"
#include "storage/s3/credentials.h"
#include "storage/s3/s3_xml.h"

namespace flinkbr::storage {

namespace {

using curl::global_init;
using curl::lower;
using curl::Slist;
using s3::Credentials;
using s3::parse_iso8601;
using s3::xml_escape;
using s3::xml_value;
using CurlPtr = curl::EasyPtr;

constexpr uint64_t kMaxCopySize = uint64_t{5} << 30;
constexpr size_t kErrorBodyRoom = 64 * 1024;
constexpr int kMaxParts = 10000;  // the S3 limit of parts per multipart upload

// ---- small helpers ----

std::string amz_date_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// ---- requests ----

struct Endpoint {
  std::string scheme;  // "http" / "https"
  std::string host;    // "obs.example.com", "127.0.0.1", "[::1]"
  std::string port;    // "" for the scheme's default
  bool host_is_ip = false;
};

Result<Endpoint> parse_endpoint(const std::string& url) {
  Endpoint e;
  size_t sep = url.find("://");
  if (sep == std::string::npos) {
    return invalid_argument("obs.endpoint",
                            "OBS endpoint '" + url + "' must start with https:// or http://");
  }
  e.scheme = lower(url.substr(0, sep));
  if (e.scheme != "http" && e.scheme != "https") {
    return invalid_argument("obs.endpoint",
                            "OBS endpoint '" + url + "' must start with https:// or http://");
  }
  std::string rest = url.substr(sep + 3);
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    if (rest.find_first_not_of('/', slash) != std::string::npos) {
      return invalid_argument("obs.endpoint", "OBS endpoint '" + url + "' must not have a path");
    }
    rest.resize(slash);
  }
  if (rest.empty() || rest.find('@') != std::string::npos) {
    return invalid_argument("obs.endpoint", "OBS endpoint '" + url + "' has no valid host");
  }
  std::string bare;
  if (rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) {
      return invalid_argument("obs.endpoint", "OBS endpoint '" + url + "' has no valid host");
    }
    e.host = rest.substr(0, close + 1);
    bare = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') {
        return invalid_argument("obs.endpoint", "OBS endpoint '" + url + "' has no valid host");
      }
      e.port = rest.substr(close + 2);
    }
  } else {
    size_t colon = rest.find(':');
    e.host = rest.substr(0, colon);
    bare = e.host;
    if (colon != std::string::npos) e.port = rest.substr(colon + 1);
  }
  if (!e.port.empty() &&
      (e.port.find_first_not_of("0123456789") != std::string::npos || e.port.size() > 5)) {
    return invalid_argument("obs.endpoint", "OBS endpoint '" + url + "' has an invalid port");
  }
  if ((e.scheme == "http" && e.port == "80") || (e.scheme == "https" && e.port == "443")) {
    e.port.clear();
  }
  unsigned char buf[16];
  e.host_is_ip =
      inet_pton(AF_INET, bare.c_str(), buf) == 1 || inet_pton(AF_INET6, bare.c_str(), buf) == 1;
  return e;
}

struct Request {
  std::string method = "GET";
  std::string bucket;
  std::string key;  // empty: the bucket itself
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;  // signed
  std::string_view body;
  std::string* sink = nullptr;  // GET: append the body here instead of Response::body
  size_t body_limit = size_t{64} << 20;
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct Sink {
  std::string* out;
  size_t limit;
};

size_t write_cb(char* ptr, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  size_t len = size * n;
  if (s->out->size() + len > s->limit) return 0;  // more than asked for: cut the transfer
  s->out->append(ptr, len);
  return len;
}

bool retryable_status(const Response& r) {
  return r.status >= 500 || r.status == 429 || xml_value(r.body, "Code").value_or("") == "SlowDown";
}

class Client {
 public:
  Client(S3Options options, Endpoint endpoint)
      : options_(std::move(options)), endpoint_(std::move(endpoint)), rng_(std::random_device{}()) {
    global_init();
    if (options_.region.empty()) options_.region = "us-east-1";
    path_style_ =
        options_.addressing == "path" || (options_.addressing.empty() && endpoint_.host_is_ip);
  }

  const S3Options& options() const { return options_; }

  // One attempt. A connection failure is kUnavailable (retryable); any HTTP answer is a Response.
  Result<Response> perform_once(const Request& req) {
    if (!curl_) {
      curl_.reset(curl_easy_init());
      if (!curl_) return internal_error("curl_easy_init failed");
    }
    CURL* c = curl_.get();
    curl_easy_reset(c);

    std::string host = endpoint_.host;
    std::string path;
    // A bucket name with dots would not match the certificate of *.host: path-style for it.
    if (path_style_ || (endpoint_.scheme == "https" && req.bucket.find('.') != std::string::npos)) {
      path = "/" + s3::uri_encode(req.bucket, false);
      if (!req.key.empty()) path += "/" + s3::uri_encode(req.key, true);
    } else {
      host = req.bucket + "." + host;
      path = "/" + s3::uri_encode(req.key, true);
    }
    std::string host_header = endpoint_.port.empty() ? host : host + ":" + endpoint_.port;
    std::string query = s3::canonical_query(req.query);
    std::string url = endpoint_.scheme + "://" + host_header + path;
    if (!query.empty()) url += "?" + query;

    s3::SignInput in;
    in.method = req.method;
    in.canonical_uri = path;
    in.query = req.query;
    in.payload_hash =
        req.body.empty() ? std::string(s3::kEmptyPayloadHash) : s3::sha256_hex(req.body);
    in.amz_date = amz_date_now();
    in.region = options_.region;
    in.headers = req.headers;
    in.headers.emplace_back("host", host_header);
    in.headers.emplace_back("x-amz-date", in.amz_date);
    in.headers.emplace_back("x-amz-content-sha256", in.payload_hash);
    s3::Signature sig = s3::sign(in, options_.credentials);

    Slist headers;
    for (const auto& [k, v] : in.headers) headers.append(k + ": " + v);
    headers.append("Authorization: " + sig.authorization);
    headers.append("Expect:");
    if (req.method == "PUT" || req.method == "POST") {
      headers.append("Content-Type: application/octet-stream");
    }

    Response resp;
    Sink sink{req.sink ? req.sink : &resp.body, req.body_limit};
    if (req.sink) sink.limit = req.sink->size() + req.body_limit;
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, options_.stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, curl::header_callback);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp.headers);
    if (req.method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (req.method == "GET") {
      curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (req.method == "PUT" || req.method == "POST") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.empty() ? "" : req.body.data());
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    } else {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
      std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
      while (!detail.empty() && detail.back() == '\n') detail.pop_back();
      return make_error(
          Errc::kUnavailable,
          "OBS endpoint " + endpoint_.scheme + "://" + host_header + " did not answer: " + detail,
          {}, curl::retryable(rc));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
    return resp;
  }

  // With retries on connection loss, 5xx, 429 and SlowDown. The last answer is returned as it
  // is (the caller reads its status); a connection failure after the last attempt is an error.
  Result<Response> send(const Request& req) {
    for (int attempt = 1;; ++attempt) {
      auto r = perform_once(req);
      bool last = attempt >= options_.max_attempts;
      if (!r) {
        if (last || !r.error().retryable) return r;
      } else if (!retryable_status(*r) || last) {
        return r;
      }
      backoff(attempt);
    }
  }

  void backoff(int attempt) {
    int64_t ms = int64_t{options_.retry_base_ms} << std::min(attempt - 1, 10);
    ms = std::min<int64_t>(ms, 10000);
    std::uniform_int_distribution<int64_t> jitter(0, ms / 4 + 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms + jitter(rng_)));
  }

 private:
  S3Options options_;
  Endpoint endpoint_;
  bool path_style_ = true;
  CurlPtr curl_;
  std::mt19937_64 rng_;
};

// Sends a request that carries "If-None-Match: *" (refuse to replace an existing object). A store
// that does not implement the condition (501 NotImplemented) gets the request again without it;
// the HEAD check before the commit still stands then.
Result<Response> send_if_absent(Client& client, Request req) {
  req.headers.emplace_back("if-none-match", "*");
  auto r = TRY(client.send(req));
  if (r.status == 501 || xml_value(r.body, "Code").value_or("") == "NotImplemented") {
    req.headers.pop_back();
    return client.send(req);
  }
  return r;
}

// What an error answer means, in our codes. `what`: "reading bucket/key".
Error s3_error(const Response& r, std::string_view what, const std::string& path,
               const std::string& bucket) {
  std::string code = xml_value(r.body, "Code").value_or("");
  std::string msg = xml_value(r.body, "Message").value_or("");
  if (code == "SignatureDoesNotMatch") {
    return Error{Errc::kPermissionDenied,
                 "OBS rejected the request signature (check the access key and secret key)"};
  }
  if (code == "InvalidAccessKeyId") {
    return Error{Errc::kPermissionDenied,
                 "OBS does not know the access key (check the access key and secret key)"};
  }
  if (code == "NoSuchBucket") {
    return Error{Errc::kNotFound,
                 "OBS bucket " + bucket + " does not exist (" + std::string(what) + ")"};
  }
  if (code == "NoSuchKey" || (r.status == 404 && code.empty())) {
    return Error{Errc::kNotFound, "OBS object " + path + " not found"};
  }
  if (r.status == 403) {
    return Error{Errc::kPermissionDenied,
                 "OBS denied " + std::string(what) + ": " +
                     (code.empty() ? std::string("HTTP 403 (check the access key and secret key)")
                                   : code + (msg.empty() ? "" : ": " + msg))};
  }
  if (r.status == 412 || code == "PreconditionFailed" || code == "ConditionalRequestConflict") {
    return Error{Errc::kAlreadyExists, path + " already exists"};
  }
  std::string text = "OBS " + std::string(what) + " failed: HTTP " + std::to_string(r.status);
  if (!code.empty()) text += " " + code;
  if (!msg.empty()) text += ": " + msg;
  return Error{r.status >= 500 ? Errc::kUnavailable : Errc::kIOError,
               text,
               {},
               r.status >= 500 || r.status == 429};
}

struct ObjectPath {
  std::string bucket;
  std::string key;
};

Result<ObjectPath> split_path(const std::string& path) {
  std::string_view p = path;
  while (p.starts_with('/')) p.remove_prefix(1);
  while (p.ends_with('/')) p.remove_suffix(1);
  size_t slash = p.find('/');
  ObjectPath o;
  o.bucket = std::string(p.substr(0, slash));
  if (slash != std::string_view::npos) o.key = std::string(p.substr(slash + 1));
  if (o.bucket.empty()) {
    return invalid_argument("path", "OBS path '" + path + "' must be <bucket>/<key>");
  }
  return o;
}

std::string join(const ObjectPath& o) {
  return o.key.empty() ? o.bucket : o.bucket + "/" + o.key;
}

// ---- reader ----

class S3Reader final : public ChunkedReader {
 public:
  S3Reader(std::shared_ptr<Client> client, ObjectPath obj, std::string path, uint64_t size,
           std::string etag)
      : ChunkedReader(size),
        client_(std::move(client)),
        obj_(std::move(obj)),
        path_(std::move(path)),
        etag_(std::move(etag)) {}

 private:
  // Fetches the next chunk [next_, next_ + want) into buf_, resuming after a cut connection at
  // the byte reached.
  Status fill() override {
    const uint64_t want = std::min<uint64_t>(client_->options().read_chunk, size_ - next_);
    buf_.clear();
    pos_ = 0;
    for (int attempt = 1;; ++attempt) {
      const uint64_t from = next_ + buf_.size();
      Request req;
      req.method = "GET";
      req.bucket = obj_.bucket;
      req.key = obj_.key;
      req.headers.emplace_back(
          "range", "bytes=" + std::to_string(from) + "-" + std::to_string(next_ + want - 1));
      if (!etag_.empty()) req.headers.emplace_back("if-match", etag_);
      req.sink = &buf_;
      // Room for the rest of the chunk, plus an error document.
      req.body_limit = static_cast<size_t>(next_ + want - from) + kErrorBodyRoom;
      auto r = client_->perform_once(req);
      bool last = attempt >= client_->options().max_attempts;
      if (buf_.size() > want && (!r || r->status / 100 == 2)) {
        return io_error("reading " + path_ + ": OBS answered more bytes than the range asked for");
      }
      if (!r) {
        if (last || !r.error().retryable)
          return std::unexpected(r.error().context("reading " + path_));
        client_->backoff(attempt);
        continue;
      }
      if (r->status == 206 || (r->status == 200 && from == 0 && want == size_)) {
        if (buf_.size() == want) break;
        if (last) return io_error("reading " + path_ + ": the connection ended early");
        client_->backoff(attempt);
        continue;  // a short body: resume at the byte reached
      }
      // An error answer: its body went to buf_, beyond the data of this chunk.
      Response err = *r;
      err.body = buf_.substr(static_cast<size_t>(from - next_));
      buf_.resize(static_cast<size_t>(from - next_));
      if (err.status == 412) {
        return io_error("reading " + path_ + ": the object was replaced while it was read");
      }
      if (retryable_status(err) && !last) {
        client_->backoff(attempt);
        continue;
      }
      return std::unexpected(s3_error(err, "reading " + path_, path_, obj_.bucket));
    }
    next_ += want;
    return ok();
  }

  std::shared_ptr<Client> client_;
  ObjectPath obj_;
  std::string path_;
  std::string etag_;
};

// ---- writer ----

class S3Writer final : public io::Writer {
 public:
  S3Writer(std::shared_ptr<Client> client, ObjectPath obj, std::string path, WriteOptions options)
      : client_(std::move(client)),
        obj_(std::move(obj)),
        path_(std::move(path)),
        options_(options) {}

  ~S3Writer() override {
    if (!done_) abort_upload();
  }

  Status write(std::span<const std::byte> data) override {
    if (done_ || failed_) return failed_precondition("writing " + path_ + ": the writer is closed");
    const size_t part = client_->options().part_size;
    while (!data.empty()) {
      size_t n = std::min(part - buf_.size(), data.size());
      if (buf_.capacity() < part) buf_.reserve(part);
      buf_.append(reinterpret_cast<const char*>(data.data()), n);
      data = data.subspan(n);
      if (buf_.size() == part) {
        auto st = upload_part();
        if (!st) {
          failed_ = true;
          abort_upload();
          return st;
        }
      }
    }
    return ok();
  }

  Status finish() override {
    if (done_ || failed_) return failed_precondition("writing " + path_ + ": the writer is closed");
    auto st = commit();
    if (!st) {
      failed_ = true;
      abort_upload();
      return st;
    }
    done_ = true;
    return ok();
  }

 private:
  Status commit() {
    if (!options_.overwrite) {
      Request head{.method = "HEAD", .bucket = obj_.bucket, .key = obj_.key};
      auto r = TRY_CTX(client_->send(head), "writing " + path_);
      if (r.status == 200) return make_error(Errc::kAlreadyExists, path_ + " already exists");
      if (r.status != 404)
        return std::unexpected(s3_error(r, "writing " + path_, path_, obj_.bucket));
    }
    if (upload_id_.empty()) {
      Request put{.method = "PUT", .bucket = obj_.bucket, .key = obj_.key};
      put.body = buf_;
      auto r = TRY_CTX(options_.overwrite ? client_->send(put) : send_if_absent(*client_, put),
                       "writing " + path_);
      if (r.status != 200)
        return std::unexpected(s3_error(r, "writing " + path_, path_, obj_.bucket));
      release_buffer();
      return ok();
    }
    if (!buf_.empty()) TRY(upload_part());
    std::string xml = "<CompleteMultipartUpload>";
    for (const auto& [n, etag] : parts_) {
      xml += "<Part><PartNumber>" + std::to_string(n) + "</PartNumber><ETag>" + xml_escape(etag) +
             "</ETag></Part>";
    }
    xml += "</CompleteMultipartUpload>";
    Request done{.method = "POST", .bucket = obj_.bucket, .key = obj_.key};
    done.query = {{"uploadId", upload_id_}};
    done.body = xml;
    auto r = TRY_CTX(options_.overwrite ? client_->send(done) : send_if_absent(*client_, done),
                     "completing the upload of " + path_);
    // CompleteMultipartUpload may answer 200 with an <Error> body.
    if (r.status != 200 || r.body.find("<Error>") != std::string::npos) {
      return std::unexpected(s3_error(r, "completing the upload of " + path_, path_, obj_.bucket));
    }
    upload_id_.clear();
    return ok();
  }

  Status upload_part() {
    if (upload_id_.empty()) {
      Request create{.method = "POST", .bucket = obj_.bucket, .key = obj_.key};
      create.query = {{"uploads", ""}};
      auto r = TRY_CTX(client_->send(create), "starting the upload of " + path_);
      if (r.status != 200) {
        return std::unexpected(s3_error(r, "starting the upload of " + path_, path_, obj_.bucket));
      }
      upload_id_ = xml_value(r.body, "UploadId").value_or("");
      if (upload_id_.empty()) {
        return io_error("starting the upload of " + path_ + ": OBS answered no UploadId");
      }
    }
    const int number = static_cast<int>(parts_.size()) + 1;
    if (number > kMaxParts) {
      return make_error(Errc::kFailedPrecondition,
                        "writing " + path_ + ": more than 10000 parts of " +
                            std::to_string(client_->options().part_size) +
                            " bytes; the OBS part size is too small for this file");
    }
    Request put{.method = "PUT", .bucket = obj_.bucket, .key = obj_.key};
    put.query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id_}};
    put.body = buf_;
    const std::string what = "uploading part " + std::to_string(number) + " of " + path_;
    auto r = TRY_CTX(client_->send(put), what);
    if (r.status != 200) return std::unexpected(s3_error(r, what, path_, obj_.bucket));
    std::string etag = r.header("etag");
    if (etag.empty()) return io_error(what + ": OBS answered no ETag");
    parts_.emplace_back(number, etag);
    buf_.clear();
    return ok();
  }

  void release_buffer() { std::string().swap(buf_); }

  // Best effort: a store that refuses the abort (s3rver answers 405) keeps the parts until its
  // lifecycle rules remove them; no object ever exists under the final name either way.
  void abort_upload() {
    release_buffer();
    if (upload_id_.empty()) return;
    Request del{.method = "DELETE", .bucket = obj_.bucket, .key = obj_.key};
    del.query = {{"uploadId", upload_id_}};
    (void)client_->send(del);
    upload_id_.clear();
  }

  std::shared_ptr<Client> client_;
  ObjectPath obj_;
  std::string path_;
  WriteOptions options_;
  std::string buf_;
  std::string upload_id_;
  std::vector<std::pair<int, std::string>> parts_;
  bool done_ = false;
  bool failed_ = false;
};

// ---- driver ----

class S3Driver final : public StorageDriver {
 public:
  explicit S3Driver(std::shared_ptr<Client> client) : client_(std::move(client)) {}

  std::string kind() const override { return "OBS"; }

  Result<FileInfo> stat(const std::string& path) override {
    ObjectPath o = TRY(split_path(path));
    FileInfo info;
    info.path = join(o);
    if (o.key.empty()) {
      Request head{.method = "HEAD", .bucket = o.bucket};
      auto r = TRY_CTX(client_->send(head), "stat " + path);
      if (r.status == 404) return not_found("OBS bucket " + o.bucket + " does not exist");
      if (r.status != 200)
        return std::unexpected(head_error(head, r, "stat " + path, path, o.bucket));
      info.is_dir = true;
      return info;
    }
    Request head{.method = "HEAD", .bucket = o.bucket, .key = o.key};
    auto r = TRY_CTX(client_->send(head), "stat " + path);
    if (r.status == 200) {
      info.size = std::strtoull(r.header("content-length").c_str(), nullptr, 10);
      std::string lm = r.header("last-modified");
      if (!lm.empty()) {
        time_t t = curl_getdate(lm.c_str(), nullptr);
        if (t > 0) info.mtime = t;
      }
      return info;
    }
    if (r.status != 404)
      return std::unexpected(head_error(head, r, "stat " + path, path, o.bucket));
    auto page = TRY(list_page(o.bucket, o.key + "/", "", 1));
    if (!page.entries.empty()) {
      info.is_dir = true;
      return info;
    }
    return not_found("OBS object " + path + " not found");
  }

  Result<std::vector<FileInfo>> list(const std::string& dir) override {
    ObjectPath o = TRY(split_path(dir));
    const std::string prefix = o.key.empty() ? std::string() : o.key + "/";
    std::vector<FileInfo> out;
    std::string token;
    do {
      auto page = TRY(list_page(o.bucket, prefix, token, client_->options().list_page_size));
      for (auto& e : page.entries) out.push_back(std::move(e));
      token = page.next_token;
    } while (!token.empty());
    if (out.empty() && !o.key.empty()) {
      return not_found("OBS directory " + dir + " not found (no object under it)");
    }
    return out;
  }

  Result<std::vector<FileInfo>> list_recursive(const std::string& dir) override {
    ObjectPath o = TRY(split_path(dir));
    const std::string prefix = o.key.empty() ? std::string() : o.key + "/";
    std::vector<FileInfo> out;
    std::string token;
    do {
      auto page = TRY(list_page(o.bucket, prefix, token, client_->options().list_page_size,
                                /*delimited=*/false));
      for (auto& e : page.entries)
        if (!e.path.ends_with('/')) out.push_back(std::move(e));  // skip "dir/" marker objects
      token = page.next_token;
    } while (!token.empty());
    if (out.empty() && !o.key.empty()) {
      return not_found("OBS directory " + dir + " not found (no object under it)");
    }
    return out;
  }

  Result<std::unique_ptr<io::Reader>> open_read(const std::string& path) override {
    ObjectPath o = TRY(split_path(path));
    if (o.key.empty()) return invalid_argument("path", "OBS path '" + path + "' names no object");
    Request head{.method = "HEAD", .bucket = o.bucket, .key = o.key};
    auto r = TRY_CTX(client_->send(head), "reading " + path);
    if (r.status != 200)
      return std::unexpected(head_error(head, r, "reading " + path, path, o.bucket));
    uint64_t size = std::strtoull(r.header("content-length").c_str(), nullptr, 10);
    return std::unique_ptr<io::Reader>(
        std::make_unique<S3Reader>(client_, o, path, size, r.header("etag")));
  }

  Result<std::unique_ptr<io::Writer>> open_write(const std::string& path,
                                                 WriteOptions options) override {
    ObjectPath o = TRY(split_path(path));
    if (o.key.empty()) return invalid_argument("path", "OBS path '" + path + "' names no object");
    return std::unique_ptr<io::Writer>(std::make_unique<S3Writer>(client_, o, path, options));
  }

  bool has_directories() const override { return false; }

  Status remove(const std::string& path) override {
    FileInfo info = TRY(stat(path));
    ObjectPath o = TRY(split_path(path));
    if (info.is_dir) {
      return failed_precondition("cannot remove OBS directory " + path + ": it is not empty");
    }
    Request del{.method = "DELETE", .bucket = o.bucket, .key = o.key};
    auto r = TRY_CTX(client_->send(del), "removing " + path);
    if (r.status != 204 && r.status != 200) {
      return std::unexpected(s3_error(r, "removing " + path, path, o.bucket));
    }
    return ok();
  }

  Status rename(const std::string& from, const std::string& to) override {
    ObjectPath f = TRY(split_path(from));
    ObjectPath t = TRY(split_path(to));
    FileInfo src = TRY(stat(from));
    if (src.is_dir) return invalid_argument("path", "cannot rename OBS directory " + from);
    if (t.key.empty()) return invalid_argument("path", "OBS path '" + to + "' names no object");
    auto dst = stat(to);
    if (dst)
      return make_error(Errc::kAlreadyExists,
                        "cannot rename " + from + ": " + to + " already exists");
    if (dst.error().code != Errc::kNotFound) return std::unexpected(dst.error());
    if (src.size > kMaxCopySize) {
      return failed_precondition("cannot rename " + from + ": OBS copies objects of at most 5 GiB");
    }
    Request copy{.method = "PUT", .bucket = t.bucket, .key = t.key};
    copy.headers.emplace_back("x-amz-copy-source",
                              "/" + f.bucket + "/" + s3::uri_encode(f.key, true));
    const std::string what = "copying " + from + " to " + to;
    auto r = TRY_CTX(send_if_absent(*client_, copy), what);
    if (r.status == 412) {
      return make_error(Errc::kAlreadyExists,
                        "cannot rename " + from + ": " + to + " already exists");
    }
    if (r.status != 200 || r.body.find("<Error>") != std::string::npos) {
      return std::unexpected(s3_error(r, what, from, f.bucket));
    }
    Request del{.method = "DELETE", .bucket = f.bucket, .key = f.key};
    auto d = TRY_CTX(client_->send(del), "removing " + from + " after copying it to " + to);
    if (d.status != 204 && d.status != 200) {
      return std::unexpected(s3_error(d, "removing " + from, from, f.bucket));
    }
    return ok();
  }

 private:
  // The error of a failed HEAD. A HEAD answer has no body, so a 403 cannot say whether the
  // signature, the key or a policy was refused: the same request as a one-byte GET can.
  Error head_error(const Request& head, const Response& r, std::string_view what,
                   const std::string& path, const std::string& bucket) {
    if (r.status == 403 && r.body.empty()) {
      Request get = head;
      get.method = "GET";
      if (!get.key.empty()) get.headers.emplace_back("range", "bytes=0-0");
      auto g = client_->send(get);
      if (g && g->status == 403 && !g->body.empty()) return s3_error(*g, what, path, bucket);
    }
    return s3_error(r, what, path, bucket);
  }

  // One page of ListObjectsV2; with `delimited`, objects further below come as CommonPrefixes
  // ("directories"), else every object under the prefix is listed.
  Result<s3::ListPage> list_page(const std::string& bucket, const std::string& prefix,
                                 const std::string& token, int max_keys, bool delimited = true) {
    Request req{.method = "GET", .bucket = bucket};
    req.query = {{"list-type", "2"}, {"max-keys", std::to_string(max_keys)}};
    if (delimited) req.query.emplace_back("delimiter", "/");
    req.query.emplace_back("prefix", prefix);
    if (!token.empty()) req.query.emplace_back("continuation-token", token);
    const std::string where = prefix.empty() ? bucket : bucket + "/" + prefix;
    auto r = TRY_CTX(client_->send(req), "listing " + where);
    if (r.status != 200) return std::unexpected(s3_error(r, "listing " + where, where, bucket));
    return s3::parse_list_page(r.body, bucket, prefix, where);
  }

  std::shared_ptr<Client> client_;
};

}  // namespace

Result<std::unique_ptr<StorageDriver>> make_s3_driver(S3Options options) {
  if (options.endpoint.empty()) {
    return invalid_argument("obs.endpoint", "the cluster has no OBS endpoint (obs.endpoint)");
  }
  Endpoint e = TRY(parse_endpoint(options.endpoint));
  if (options.addressing != "" && options.addressing != "path" && options.addressing != "virtual") {
    return invalid_argument("obs.addressing", "obs.addressing must be 'path' or 'virtual', not '" +
                                                  options.addressing + "'");
  }
  if (options.part_size < (size_t{5} << 20) && !options.allow_small_parts) {
    return invalid_argument("obs.part_size", "the OBS multipart part size must be at least 5 MiB");
  }
  if (options.part_size == 0 || options.read_chunk == 0 || options.list_page_size <= 0) {
    return invalid_argument("obs.part_size",
                            "OBS part size, read chunk and page size must be positive");
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  return std::unique_ptr<StorageDriver>(
      std::make_unique<S3Driver>(std::make_shared<Client>(std::move(options), std::move(e))));
}

Result<std::unique_ptr<StorageDriver>> make_s3_driver(const config::ObsConfig& obs) {
  if (obs.endpoint.empty()) {
    return invalid_argument("obs.endpoint", "the cluster has no OBS endpoint (obs.endpoint)");
  }
  S3Options options;
  options.endpoint = obs.endpoint;
  options.region = obs.region;
  options.addressing = obs.addressing;
  options.part_size = static_cast<size_t>(obs.part_size);
  options.credentials = TRY(s3::load_credentials(obs.credentials_file));
  return make_s3_driver(std::move(options));
}

}  // namespace flinkbr::storage
