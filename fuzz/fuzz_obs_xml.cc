// libFuzzer target: the XML answers of OBS (S3) as the driver reads them (storage/s3/s3_xml.h):
// ListObjectsV2 pages, error bodies (Code, Message), InitiateMultipartUpload (UploadId).
//
// Invariants: every listed path lies in the bucket, none ends with '/', the prefix's own marker
// is never listed; a truncated page has a continuation token or is refused naming the listing;
// xml_unescape inverts xml_escape on any bytes.
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "storage/s3/s3_xml.h"

using flinkbr::fuzz::as_text;
using flinkbr::fuzz::check;
namespace s3 = flinkbr::storage::s3;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view body = as_text(bytes, size);
  check(s3::xml_unescape(s3::xml_escape(body)) == body, "xml_unescape inverts xml_escape");
  (void)s3::xml_value(body, "Code");
  (void)s3::xml_value(body, "Message");
  (void)s3::xml_value(body, "UploadId");

  auto page =
      s3::parse_list_page(body, "fuzz-bucket", "backups/prod/", "fuzz-bucket/backups/prod/");
  if (!page) {
    check(page.error().message.find("fuzz-bucket/backups/prod/") != std::string::npos,
          "a refusal names the listing");
    return 0;
  }
  for (const auto& f : page->entries) {
    check(f.path.starts_with("fuzz-bucket/") && f.path.size() > 12, "paths lie in the bucket");
    check(f.path != "fuzz-bucket/backups/prod/", "the prefix's marker is not listed");
    if (f.is_dir) check(!f.path.ends_with('/'), "directories have no trailing '/'");
  }
  return 0;
}
