// A WebHDFS REST client over libcurl, written from Hadoop's WebHDFS specification
// (hadoop-hdfs/src/site/markdown/WebHDFS.md). It speaks to the NameNodes of one NameService:
//
// - Every call goes to the NameNode that answered last; a NameNode that does not answer or
//   answers StandbyException is skipped for the next one, so a client of an HA NameService finds
//   the active NameNode by itself.
// - Data moves through the two-step redirect of the specification: OPEN, CREATE and APPEND go to
//   the NameNode without data, which answers 307 with the DataNode's Location; the data then
//   goes to (or comes from) that Location. curl never follows a redirect by itself: a CREATE
//   must not send its data to the NameNode. A "100 Continue" before the final answer (real
//   DataNodes send it) is consumed by curl.
// - Data streams through curl read/write callbacks straight from/to the caller's buffer.
// - Authentication: `user.name` (simple) or SPNEGO (CURLAUTH_NEGOTIATE, with the ticket cache
//   of the daemon's user). HTTPS verifies the certificate and the host name, against the
//   system's CAs or `ca_file`.
// - Connection loss, 5xx, RetriableException and SafeModeException are retried with
//   exponential backoff; RemoteException answers become errors with our codes and a sentence
//   naming the path (FileNotFoundException -> kNotFound, AccessControlException ->
//   kPermissionDenied, FileAlreadyExistsException -> kAlreadyExists, ...).
//
// Not thread-safe: one client per task (it owns one CURL handle, reused for keep-alive).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "storage/curl_util.h"

namespace flinkbr::storage::hdfs {

struct WebHdfsOptions {
  std::vector<std::string> namenodes;  // base URLs: "http://nn1:9870", "https://[::1]:9871"
  std::string nameservice;             // for messages and hdfs:// paths
  std::string user;                    // user.name for simple authentication
  bool kerberos = false;               // SPNEGO instead of user.name
  std::string ca_file;                 // PEM bundle for HTTPS; empty: the system's
  // Added to the error when every NameNode is standby (e.g. "the NameService is not in
  // hadoop_conf_dir, so its active NameNode is unknown").
  std::string all_standby_hint;
  int list_page_size = 0;   // unused by the protocol (the NameNode fixes the page); for tests
  int max_attempts = 5;     // per call, the first included
  int retry_base_ms = 200;  // backoff: base * 2^n plus jitter, at most 10 s
  long connect_timeout_s = 10;
  long stall_timeout_s = 60;  // a transfer that moves no byte for this long is cut and retried
};

// FileStatus of the specification.
struct FileStatus {
  std::string path_suffix;  // the name, in listings
  bool is_dir = false;
  uint64_t length = 0;
  int64_t modification_ms = 0;
  uint32_t permission = 0;  // octal digits of "permission", as bits
  std::string owner;
};

class WebHdfsClient {
 public:
  explicit WebHdfsClient(WebHdfsOptions options);

  const WebHdfsOptions& options() const { return options_; }
  // "hdfs://<nameservice>" + path, for messages and records.
  std::string uri(const std::string& path) const;

  // GETFILESTATUS. kNotFound when missing.
  [[nodiscard]] Result<FileStatus> get_file_status(const std::string& path);
  // LISTSTATUS_BATCH, following remainingEntries; LISTSTATUS when the NameNode does not know the
  // batch operation (Hadoop before 2.8).
  [[nodiscard]] Result<std::vector<FileStatus>> list_status(const std::string& path);
  // MKDIRS (missing parents too); permission as octal bits when given.
  [[nodiscard]] Status mkdirs(const std::string& path, std::optional<uint32_t> permission = {});
  // RENAME; the NameNode's boolean (false: the source is missing, the destination exists, or its
  // parent is missing).
  [[nodiscard]] Result<bool> rename(const std::string& from, const std::string& to);
  // DELETE; the NameNode's boolean (false: it did not exist).
  [[nodiscard]] Result<bool> remove(const std::string& path, bool recursive);
  [[nodiscard]] Status set_permission(const std::string& path, uint32_t permission);
  [[nodiscard]] Status set_times(const std::string& path, int64_t modification_ms);

  // OPEN of [offset, offset + length): the data goes to `sink` as it arrives. Returns the bytes
  // delivered, which may be fewer than asked when the connection broke (the caller resumes at
  // the offset reached); an error answer or a refused request is an error.
  [[nodiscard]] Result<uint64_t> open_range(const std::string& path, uint64_t offset,
                                            uint64_t length,
                                            const std::function<void(std::string_view)>& sink);
  // CREATE (overwrite as given) or APPEND of `data` in one request to the DataNode. A broken
  // transfer is kUnavailable and retryable: the caller finds out with GETFILESTATUS how much of
  // it landed.
  [[nodiscard]] Status create(const std::string& path, std::span<const char> data, bool overwrite,
                              std::optional<uint32_t> permission = {});
  [[nodiscard]] Status append(const std::string& path, std::span<const char> data);

  // Sleeps before retry `attempt` (1-based).
  void backoff(int attempt);

  struct Response {
    long status = 0;
    curl::Headers headers;
    std::string body;  // the answer's body (JSON, or an error document), bounded
  };
  // What one exchange sends and where the body of a 2xx answer goes.
  struct Transfer {
    std::span<const char> upload;  // request body (PUT/POST)
    size_t upload_pos = 0;
    const std::function<void(std::string_view)>* sink = nullptr;
    uint64_t delivered = 0;  // bytes given to sink
  };

 private:
  // One HTTP exchange. Connection failures are kUnavailable (retryable when curl says so).
  Result<Response> perform(const std::string& method, const std::string& url, Transfer* transfer);
  // A NameNode call with fail-over and retries; returns the first non-standby answer.
  Result<Response> namenode(const std::string& method, const std::string& op,
                            const std::string& path,
                            const std::vector<std::pair<std::string, std::string>>& params);
  // namenode() that expects 200 and parses the JSON body into `out` (nlohmann, by the caller).
  Result<std::string> namenode_json(const std::string& method, const std::string& op,
                                    const std::string& path,
                                    const std::vector<std::pair<std::string, std::string>>& params);
  Status upload(const std::string& method, const std::string& op, const std::string& path,
                std::span<const char> data,
                const std::vector<std::pair<std::string, std::string>>& params);
  std::string url(size_t namenode, const std::string& op, const std::string& path,
                  const std::vector<std::pair<std::string, std::string>>& params) const;
  Error remote_error(const Response& r, const std::string& what, const std::string& path) const;

  WebHdfsOptions options_;
  size_t active_ = 0;  // the NameNode that answered last
  curl::EasyPtr curl_;
  std::mt19937_64 rng_;
};

// Exposed for tests: the RemoteException of an error answer ({"RemoteException": {"exception",
// "javaClassName", "message"}}), or empty strings when the body is not one.
struct RemoteException {
  std::string exception;
  std::string message;
};
RemoteException parse_remote_exception(const std::string& body);

// Exposed for tests and fuzz/fuzz_webhdfs_json.cc: the bodies of NameNode answers, parsed as the
// client does (`where` is the hdfs:// URI, for messages). kIOError naming what is missing or
// malformed; never an exception, whatever the body.
[[nodiscard]] Result<FileStatus> parse_file_status_answer(const std::string& body,
                                                          const std::string& where);
// LISTSTATUS (Hadoop before 2.8): every entry at once.
[[nodiscard]] Result<std::vector<FileStatus>> parse_liststatus_answer(const std::string& body,
                                                                      const std::string& where);
// {"boolean": true|false} of MKDIRS, RENAME and DELETE; nullopt when the body is not one.
std::optional<bool> parse_boolean_answer(const std::string& body);
// One LISTSTATUS_BATCH page.
struct ListingPage {
  std::vector<FileStatus> entries;
  int64_t remaining = 0;  // remainingEntries
};
[[nodiscard]] Result<ListingPage> parse_listing_page_answer(const std::string& body,
                                                            const std::string& where);

}  // namespace flinkbr::storage::hdfs
