// libFuzzer target: a whole backup file through the code path of `backup verify` (and of the
// verify step of a restore): task::verify_backup_stream = gunzip (exactly one member) -> tar ->
// header -> entries -> manifest, every entry checked against the manifest.
//
// An input that does not start with the gzip magic is a tar stream and is compressed first: a
// mutated gzip stream nearly always fails its CRC, so the corpus keeps mostly tar streams for
// the mutations to reach the tar and JSON layers beneath. Inputs starting with the magic go in
// as they are (the gzip layer itself: truncation, a second member, bad trailers).
//
// Invariants besides "no crash": a file that verifies has its size and SHA-256 counted right,
// one summary line per source of its header, and per-source counts that add up to the total; a
// file that does not is refused as kCorruption (or kInvalidArgument, kIOError) with a message.
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "fuzz_check.h"
#include "io/layers.h"
#include "io/stream.h"
#include "task/archive_io.h"

using flinkbr::fuzz::as_text;
using flinkbr::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string data(as_text(bytes, size));
  if (size < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) {
    flinkbr::io::StringWriter out;
    auto gz = flinkbr::io::gzip_writer(out, {.level = 1});
    check(gz->write(flinkbr::io::as_bytes(data)).has_value() && gz->finish().has_value(),
          "gzip of the input");
    data = out.str();
  }
  auto verified = flinkbr::task::verify_backup_stream(
      std::make_unique<flinkbr::io::StringReader>(data), "fuzz.tar.gz", {});
  if (!verified) {
    const auto& e = verified.error();
    check(!e.message.empty(), "a refusal has a message");
    check(e.code == flinkbr::Errc::kCorruption || e.code == flinkbr::Errc::kInvalidArgument ||
              e.code == flinkbr::Errc::kIOError,
          "a refusal is kCorruption, kInvalidArgument or kIOError");
    check(
        e.message.find("fuzz.tar.gz") != std::string::npos || e.code != flinkbr::Errc::kCorruption,
        "a corruption names the file");
    return 0;
  }
  check(verified->file_size == data.size(), "file_size counts every byte");
  check(verified->sha256 == flinkbr::io::sha256_hex(data), "sha256 covers the whole file");
  const auto& report = verified->report;
  check(report.summary.sources.size() == report.header.sources.size(),
        "one summary line per source of the header");
  uint64_t entries = 0;
  for (size_t i = 0; i < report.summary.sources.size(); ++i) {
    check(report.summary.sources[i].name == report.header.sources[i].name,
          "summary lines in the header's order");
    entries += report.summary.sources[i].entries;
  }
  check(entries == report.summary.entries, "per-source entries add up to the total");
  return 0;
}
