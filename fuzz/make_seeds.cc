// Writes the seed backup files of fuzz/corpus/backup_file with the real ArchiveWriter (the code
// every backup goes through), as uncompressed tar streams (the fuzz target compresses inputs that
// are not gzip) and one gzip file:
//   cmake --build build --target fuzz_make_seeds && build/fuzz/fuzz_make_seeds fuzz/corpus
// The header and manifest seeds (corpus/header, corpus/manifest) are taken out of these files.
#include <cstdio>
#include <fstream>
#include <string>

#include "archive/archive_writer.h"
#include "io/layers.h"
#include "io/stream.h"

using namespace flinkbr;

namespace {

void die_if(bool failed, const std::string& what) {
  if (!failed) return;
  std::fprintf(stderr, "make_seeds: %s\n", what.c_str());
  std::exit(1);
}

template <typename R>
void must(const R& r, const std::string& what) {
  die_if(!r.has_value(), what + ": " + (r ? std::string() : r.error().message));
}

void save(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
  die_if(!out.good(), "writing " + path);
}

archive::Header header_of(std::vector<archive::SourceDescriptor> sources) {
  archive::Header h;
  h.system_version = "1.17.2";
  h.data_source = "Flink";
  h.cluster = "prod";
  h.execution_time = "20260131020000";
  h.tool_version = "0.1.0";
  h.sources = std::move(sources);
  return h;
}

std::string files_backup() {
  io::StringWriter out;
  auto w = archive::ArchiveWriter::create(
      out,
      header_of({{"conf", "files", "file:///opt/flink/conf"}, {"ha", "files", "file:///data/ha"}}));
  must(w, "create");
  archive::SourceArchiveWriter conf(**w, "conf");
  must(conf.add_directory("", 0755, 1769824800), "conf/");
  must(conf.add_bytes("flink-conf.yaml",
                      "jobmanager.rpc.address: jm\nhigh-availability: zookeeper\n", 0644,
                      1769824801),
       "flink-conf.yaml");
  must(conf.add_bytes("empty", "", 0600, 0), "empty");
  must(conf.add_directory("sub dir", 0700, 1769824802), "sub dir");
  must(conf.add_bytes("sub dir/caf\xc3\xa9 \xf0\x9f\x98\x80.txt", "x", 0644, 1769824803), "utf8");
  archive::SourceArchiveWriter ha(**w, "ha");
  must(ha.add_directory("", 0755, 1769824800), "ha/");
  must(ha.add_bytes("completedCheckpoint1a2b3c", std::string(700, 'c'), 0644, 1769824804), "cp");
  must((*w)->finish(), "finish");
  return out.str();
}

std::string two_kinds_backup() {
  io::StringWriter out;
  auto w = archive::ArchiveWriter::create(
      out, header_of({{"zk", "zookeeper", "zk1:2181/flink/prod"},
                      {"db", "postgres", "postgresql://db:5432/flink"}}));
  must(w, "create");
  archive::SourceArchiveWriter zk(**w, "zk");
  must(zk.add_directory("", 0755, 0), "zk/");
  must(
      zk.add_bytes("nodes.jsonl", "{\"path\":\"/flink/prod/leader\",\"data\":\"AAE=\"}\n", 0644, 5),
      "nodes");
  archive::SourceArchiveWriter db(**w, "db");
  must(db.add_directory("", 0755, 0), "db/");
  must(db.add_bytes("dump.sql", "CREATE TABLE t (id int);\n", 0600, 6), "dump");
  must((*w)->finish(), "finish");
  return out.str();
}

std::string empty_backup() {
  io::StringWriter out;
  auto w = archive::ArchiveWriter::create(out, header_of({{"conf", "files", "file:///c"}}));
  must(w, "create");
  archive::SourceArchiveWriter conf(**w, "conf");
  must(conf.add_directory("", 0755, 0), "conf/");
  must((*w)->finish(), "finish");
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  die_if(argc != 2, "usage: fuzz_make_seeds <corpus dir>");
  const std::string dir = std::string(argv[1]) + "/backup_file/";
  std::string files = files_backup();
  save(dir + "files.tar", files);
  save(dir + "two_kinds.tar", two_kinds_backup());
  save(dir + "empty_source.tar", empty_backup());
  io::StringWriter gz_out;
  auto gz = io::gzip_writer(gz_out, {.level = 6});
  must(gz->write(io::as_bytes(files)), "gzip");
  must(gz->finish(), "gzip finish");
  save(dir + "files.tar.gz", gz_out.str());
  return 0;
}
