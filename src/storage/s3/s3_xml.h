// The XML of S3 (OBS) answers: a tolerant reader of the flat documents S3 sends (ListObjectsV2
// pages, error bodies, InitiateMultipartUpload) and the escaping of what the driver sends.
// Exposed for the OBS driver, its tests and fuzz/fuzz_obs_xml.cc. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "storage/storage.h"

namespace flinkbr::storage::s3 {

// XML character references and the five predefined entities decoded; anything else kept as is.
std::string xml_unescape(std::string_view s);
// The raw contents of each <tag>...</tag> element in xml (no nesting of the same tag), in order.
std::vector<std::string_view> xml_elements(std::string_view xml, std::string_view tag);
// The unescaped contents of the first <tag> element; nullopt when there is none.
std::optional<std::string> xml_value(std::string_view xml, std::string_view tag);
// &, <, > and " escaped: xml_unescape(xml_escape(s)) == s.
std::string xml_escape(std::string_view s);
// "2009-10-12T17:50:30.000Z" -> epoch seconds; 0 when malformed.
int64_t parse_iso8601(std::string_view s);

// One page of ListObjectsV2 under `prefix` of `bucket`: objects (the prefix's own marker left
// out) then CommonPrefixes as directories, paths "<bucket>/<key>" without a trailing '/'.
// kIOError naming `where` for a truncated page without a continuation token.
struct ListPage {
  std::vector<FileInfo> entries;
  std::string next_token;  // empty on the last page
};
[[nodiscard]] Result<ListPage> parse_list_page(std::string_view body, const std::string& bucket,
                                               const std::string& prefix, const std::string& where);

}  // namespace flinkbr::storage::s3
