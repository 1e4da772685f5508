#include "storage/s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "common/text.h"

namespace flinkbr::storage::s3 {

std::string hex(std::string_view bytes) {
  return hex_lower(bytes);
}

std::string sha256(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return std::string(reinterpret_cast<const char*>(md), sizeof md);
}

std::string sha256_hex(std::string_view data) {
  return hex(sha256(data));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  return percent_encode(s, keep_slash ? "/" : "");
}

std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) enc.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string signing_key(std::string_view secret_key, std::string_view date, std::string_view region,
                        std::string_view service) {
  std::string k = hmac_sha256("AWS4" + std::string(secret_key), date);
  k = hmac_sha256(k, region);
  k = hmac_sha256(k, service);
  return hmac_sha256(k, "aws4_request");
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Trims and collapses inner runs of spaces, as the canonical header value wants.
std::string canonical_value(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace

Signature sign(const SignInput& in, const Credentials& credentials) {
  std::map<std::string, std::string> headers;  // sorted by lower-case name
  for (const auto& [k, v] : in.headers) {
    auto& slot = headers[lower(k)];
    if (!slot.empty()) slot += ',';
    slot += canonical_value(v);
  }
  Signature s;
  std::string canonical_headers;
  for (const auto& [k, v] : headers) {
    canonical_headers += k + ":" + v + "\n";
    if (!s.signed_headers.empty()) s.signed_headers += ';';
    s.signed_headers += k;
  }
  s.canonical_request = in.method + "\n" + in.canonical_uri + "\n" + canonical_query(in.query) +
                        "\n" + canonical_headers + "\n" + s.signed_headers + "\n" + in.payload_hash;
  const std::string date = in.amz_date.substr(0, 8);
  const std::string scope = date + "/" + in.region + "/" + in.service + "/aws4_request";
  s.string_to_sign =
      "AWS4-HMAC-SHA256\n" + in.amz_date + "\n" + scope + "\n" + sha256_hex(s.canonical_request);
  s.signature = hex(hmac_sha256(signing_key(credentials.secret_key, date, in.region, in.service),
                                s.string_to_sign));
  s.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key + "/" + scope +
                    ", SignedHeaders=" + s.signed_headers + ", Signature=" + s.signature;
  return s;
}

}  // namespace flinkbr::storage::s3
