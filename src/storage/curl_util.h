// libcurl pieces shared by the HTTP storage drivers (OBS over S3, HDFS over WebHDFS): one-time
// global initialisation, RAII owners for CURL handles and header lists, and the parsing of
// response header lines. Each driver keeps its own request logic; only the plumbing is here.
#pragma once

#include <curl/curl.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace flinkbr::storage::curl {

// curl_global_init, once per process (it is not thread-safe, so it must not race).
void global_init();

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;

// Owns a curl_slist of request headers.
class Slist {
 public:
  Slist() = default;
  ~Slist() {
    if (list_) curl_slist_free_all(list_);
  }
  Slist(const Slist&) = delete;
  Slist& operator=(const Slist&) = delete;
  void append(const std::string& line) {
    curl_slist* n = curl_slist_append(list_, line.c_str());
    if (n) list_ = n;
  }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

std::string lower(std::string_view s);

// A CURLOPT_HEADERFUNCTION callback filling a map of lower-case header names. A status line
// ("HTTP/1.1 100 Continue", or the answer after a redirect) starts a new response, so only the
// headers of the last response remain.
size_t header_callback(char* ptr, size_t size, size_t n, void* headers_map);
using Headers = std::map<std::string, std::string>;

// Whether a libcurl failure may go away on a retry (connection loss, timeouts) rather than
// being a mistake in the request or its configuration (bad URL, certificate, unknown host).
bool retryable(CURLcode code);

}  // namespace flinkbr::storage::curl
