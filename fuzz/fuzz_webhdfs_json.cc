// libFuzzer target: the JSON answers of a NameNode as the WebHDFS client reads them
// (storage/hdfs/webhdfs_client.h): RemoteException bodies, GETFILESTATUS, LISTSTATUS,
// LISTSTATUS_BATCH pages and the {"boolean": ...} of MKDIRS, RENAME and DELETE. Every parser sees
// every input.
//
// Invariants: no exception escapes (nlohmann throws on members of an unexpected type: the
// answers come from the network); a refusal is kIOError naming the path asked about; a
// permission read is at most 07777.
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "storage/hdfs/webhdfs_client.h"

using flinkbr::fuzz::as_text;
using flinkbr::fuzz::check;
namespace hdfs = flinkbr::storage::hdfs;

namespace {

constexpr const char* kWhere = "hdfs://fuzz-ns/flink/backups";

template <typename T>
void check_refusal(const flinkbr::Result<T>& r) {
  if (r) return;
  check(r.error().code == flinkbr::Errc::kIOError, "a malformed answer is kIOError");
  check(r.error().message.find(kWhere) != std::string::npos, "a refusal names the path");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string body(as_text(bytes, size));
  (void)hdfs::parse_remote_exception(body);
  (void)hdfs::parse_boolean_answer(body);

  auto status = hdfs::parse_file_status_answer(body, kWhere);
  check_refusal(status);
  if (status) check(status->permission <= 07777, "permission bits");

  auto list = hdfs::parse_liststatus_answer(body, kWhere);
  check_refusal(list);
  if (list)
    for (const auto& f : *list) check(f.permission <= 07777, "permission bits");

  auto page = hdfs::parse_listing_page_answer(body, kWhere);
  check_refusal(page);
  if (page)
    for (const auto& f : page->entries) check(f.permission <= 07777, "permission bits");
  return 0;
}
