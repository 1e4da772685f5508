// AWS Signature Version 4 for the S3 API (OBS, MinIO, Ceph RGW and AWS S3 all accept it), and the
// small hashing and encoding helpers it needs. Pure functions over OpenSSL: no I/O, no clock.
// The secret key goes into the HMAC only; nothing here returns or formats it.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flinkbr::storage::s3 {

struct Credentials {
  std::string access_key;
  std::string secret_key;
};

// Lower-case hex of raw bytes.
std::string hex(std::string_view bytes);
// Raw SHA-256 / hex SHA-256 of data.
std::string sha256(std::string_view data);
std::string sha256_hex(std::string_view data);
// Raw HMAC-SHA256.
std::string hmac_sha256(std::string_view key, std::string_view data);
// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters (A-Z a-z 0-9 - . _ ~) stay,
// everything else becomes %XX (upper-case); '/' stays when keep_slash.
std::string uri_encode(std::string_view s, bool keep_slash);

// The hash of an empty payload.
inline constexpr std::string_view kEmptyPayloadHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct SignInput {
  std::string method;         // "GET"
  std::string canonical_uri;  // already percent-encoded path: "/bucket/key%20name"
  std::vector<std::pair<std::string, std::string>> query;    // raw (unencoded) name/value pairs
  std::vector<std::pair<std::string, std::string>> headers;  // every header to sign, incl. host
  std::string payload_hash;  // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
  std::string amz_date;      // "20150830T123600Z"
  std::string region;        // "us-east-1"
  std::string service = "s3";
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-date"
  std::string signature;       // hex
  std::string authorization;   // the value of the Authorization header
};

// The canonical query string: names and values encoded, sorted by name then value, "&"-joined.
std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query);
// The derived signing key (raw bytes).
std::string signing_key(std::string_view secret_key, std::string_view date, std::string_view region,
                        std::string_view service);
Signature sign(const SignInput& in, const Credentials& credentials);

}  // namespace flinkbr::storage::s3
