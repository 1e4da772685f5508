// The OBS driver: Huawei OBS or any S3-compatible object store through the S3 REST API with
// Signature V4, over libcurl. Paths are "<bucket>/<key>"; "directories" are key prefixes ending in
// '/', so a directory exists exactly while an object lies under it and create_parents has nothing
// to create.
//
// - stat: HEAD of the object; a missing object with objects under "<key>/" is a directory.
// - list: ListObjectsV2 with delimiter '/', following continuation tokens.
// - open_read: HEAD, then ranged GETs of at most read_chunk bytes into one buffer (the memory
//   bound); a GET cut short resumes with a ranged GET at the offset reached, with If-Match on the
//   ETag so that a replaced object is not stitched together from two versions.
// - open_write: data is buffered up to part_size. An object that stays below one part is one
//   PUT at finish(); a larger one is a multipart upload, one UploadPart per full buffer, committed
//   by CompleteMultipartUpload in finish(). Nothing exists under the final name before the commit.
//   A writer destroyed unfinished sends AbortMultipartUpload. With overwrite=false, finish()
//   refuses an existing object (HEAD, and If-None-Match: * where the store supports it).
// - remove: DELETE (after a HEAD, since S3 answers 204 for a missing key too).
// - rename: CopyObject (x-amz-copy-source) then DELETE; objects up to 5 GiB.
// Every request is retried with exponential backoff on connection loss, 5xx, 429 and SlowDown.
// Error messages name the bucket and key, never a credential.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/result.h"
#include "config/config.h"
#include "storage/s3/sigv4.h"
#include "storage/storage.h"

namespace flinkbr::storage {

struct S3Options {
  std::string endpoint;    // "https://obs.example.com", "http://127.0.0.1:9000"
  std::string region;      // default "us-east-1"
  std::string addressing;  // "", "path", "virtual"; "" = path for an IP address, else virtual
  s3::Credentials credentials;
  size_t part_size = size_t{16} << 20;  // multipart part size, at least 5 MiB ...
  bool allow_small_parts = false;       // ... unless this is set (tests)
  size_t read_chunk = size_t{8} << 20;  // bytes per ranged GET (the reader's buffer)
  int list_page_size = 1000;            // max-keys of ListObjectsV2
  int max_attempts = 5;                 // per request, the first included
  int retry_base_ms = 200;              // backoff: base * 2^n, plus jitter, at most 10 s
  long connect_timeout_s = 15;
  long stall_timeout_s = 60;  // a transfer that moves no byte for this long is cut (and retried)
};

// A driver from explicit options (kInvalidArgument for a malformed endpoint or part size).
[[nodiscard]] Result<std::unique_ptr<StorageDriver>> make_s3_driver(S3Options options);
// A driver for a cluster's obs settings: credentials from obs.credentials_file or the
// environment; kInvalidArgument with field "obs.endpoint" when the endpoint is missing.
[[nodiscard]] Result<std::unique_ptr<StorageDriver>> make_s3_driver(const config::ObsConfig& obs);

}  // namespace flinkbr::storage
