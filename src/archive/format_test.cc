#include "archive/format.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sstream>

namespace flinkbr::archive {
namespace {

Header sample_header() {
  Header h;
  h.system_version = "1.18.1 (MRS)";
  h.data_source = "Flink";
  h.cluster = "prod";
  h.execution_time = "20261125043712";
  h.tool_version = "0.1.0";
  h.sources = {{"conf", "files", "file:///opt/flink/conf"},
               {"ha", "zookeeper", "zk1:2181/flink/prod"}};
  return h;
}

TEST(FormatTest, HeaderRoundTrip) {
  Header h = sample_header();
  auto back = Header::from_json(h.to_json());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->format_version, kFormatVersion);
  EXPECT_EQ(back->system_version, h.system_version);
  EXPECT_EQ(back->data_source, h.data_source);
  EXPECT_EQ(back->cluster, h.cluster);
  EXPECT_EQ(back->execution_time, h.execution_time);
  EXPECT_EQ(back->tool_version, h.tool_version);
  ASSERT_EQ(back->sources.size(), 2u);
  EXPECT_EQ(back->sources[1].name, "ha");
  EXPECT_EQ(back->sources[1].kind, "zookeeper");
  EXPECT_EQ(back->sources[1].location, "zk1:2181/flink/prod");
}

TEST(FormatTest, HeaderRefusesMissingFieldsNamingThem) {
  for (std::string field : {"format_version", "system_version", "data_source", "cluster",
                            "execution_time", "tool_version", "sources"}) {
    auto j = nlohmann::json::parse(sample_header().to_json());
    j.erase(field);
    auto h = Header::from_json(j.dump());
    ASSERT_FALSE(h) << field;
    EXPECT_EQ(h.error().code, Errc::kCorruption);
    EXPECT_NE(h.error().message.find("'" + field + "'"), std::string::npos) << h.error().message;
  }
  auto j = nlohmann::json::parse(sample_header().to_json());
  j["sources"][0].erase("kind");
  auto h = Header::from_json(j.dump());
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message.find("'kind'"), std::string::npos) << h.error().message;
}

TEST(FormatTest, HeaderRefusesASourceListedTwice) {
  Header h = sample_header();
  h.sources.push_back({"conf", "files", "file:///elsewhere"});
  auto back = Header::from_json(h.to_json());
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, Errc::kCorruption);
  EXPECT_EQ(back.error().message, "header source 2: source 'conf' is listed twice");
}

TEST(FormatTest, HeaderRefusesUnknownVersionAndBadJson) {
  auto j = nlohmann::json::parse(sample_header().to_json());
  j["format_version"] = 2;
  auto h = Header::from_json(j.dump());
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, Errc::kCorruption);
  EXPECT_NE(h.error().message.find("format_version 2"), std::string::npos) << h.error().message;

  j["format_version"] = "1";
  EXPECT_FALSE(Header::from_json(j.dump()));
  EXPECT_FALSE(Header::from_json("{not json"));
  EXPECT_FALSE(Header::from_json("[1,2]"));
  EXPECT_FALSE(Header::from_json(""));
}

TEST(FormatTest, ManifestRoundTrip) {
  Manifest m;
  m.entries.push_back({.path = "sources/conf/tree",
                       .type = EntryType::kDirectory,
                       .mode = 0755,
                       .mtime = 1700000000});
  m.entries.push_back({.path = "sources/conf/tree/flink-conf.yaml",
                       .type = EntryType::kFile,
                       .size = 1234,
                       .sha256 = std::string(64, 'a'),
                       .mode = 0644,
                       .mtime = -5});
  std::string text = m.to_json();
  EXPECT_NE(text.find("\"mode\":\"0755\""), std::string::npos) << text;
  auto back = Manifest::from_json(text);
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->entries.size(), 2u);
  EXPECT_EQ(back->entries[0].path, "sources/conf/tree");
  EXPECT_EQ(back->entries[0].type, EntryType::kDirectory);
  EXPECT_EQ(back->entries[0].mode, 0755u);
  EXPECT_EQ(back->entries[0].size, 0u);
  EXPECT_EQ(back->entries[1].type, EntryType::kFile);
  EXPECT_EQ(back->entries[1].size, 1234u);
  EXPECT_EQ(back->entries[1].sha256, std::string(64, 'a'));
  EXPECT_EQ(back->entries[1].mode, 0644u);
  EXPECT_EQ(back->entries[1].mtime, -5);

  auto empty = Manifest::from_json(Manifest{}.to_json());
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_TRUE(empty->entries.empty());
}

TEST(FormatTest, ManifestRefusesBadEntries) {
  auto base = nlohmann::json::parse(
      R"({"format_version":1,"entries":[{"path":"sources/a/f","type":"file","size":1,)"
      R"("sha256":"0000000000000000000000000000000000000000000000000000000000000000",)"
      R"("mode":"0644","mtime":1}]})");
  ASSERT_TRUE(Manifest::from_json(base.dump()));
  struct Case {
    const char* key;
    nlohmann::json value;  // null: erase the key
    const char* expect;
  };
  for (const Case& c : std::vector<Case>{{"size", nullptr, "'size'"},
                                         {"sha256", nullptr, "'sha256'"},
                                         {"mode", nullptr, "'mode'"},
                                         {"mtime", nullptr, "'mtime'"},
                                         {"path", nullptr, "'path'"},
                                         {"type", "link", "'type'"},
                                         {"size", -1, "'size'"},
                                         {"sha256", "ABC", "'sha256'"},
                                         {"mode", "0999", "'mode'"},
                                         {"mode", "17777", "'mode'"},
                                         // Permission bits only (issue 16).
                                         {"mode", "4755", "permission bits only"},
                                         {"mode", "1777", "permission bits only"}}) {
    auto j = base;
    if (c.value.is_null())
      j["entries"][0].erase(c.key);
    else
      j["entries"][0][c.key] = c.value;
    auto m = Manifest::from_json(j.dump());
    ASSERT_FALSE(m) << c.key;
    EXPECT_EQ(m.error().code, Errc::kCorruption);
    EXPECT_NE(m.error().message.find(c.expect), std::string::npos) << m.error().message;
  }
  auto j = base;
  j["format_version"] = 7;
  EXPECT_FALSE(Manifest::from_json(j.dump()));
  j = base;
  j.erase("entries");
  auto m = Manifest::from_json(j.dump());
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("'entries'"), std::string::npos);
}

// Found by fuzz/fuzz_manifest.cc (fuzz/crashes/manifest/): the manifest parser accepted a path
// that no tar entry may carry (here with a DEL character).
TEST(FormatTest, ManifestRefusesAnInvalidPathNamingTheEntry) {
  for (std::string_view bad : {"s\u007furces/conf", "../x", "sources//x", "/etc/passwd"}) {
    std::string text = std::string(R"({"format_version":1,"entries":[)") +
                       R"({"path":"sources/a","type":"dir","mode":"0755","mtime":0},)" +
                       R"({"path":")" + std::string(bad) +
                       R"(","type":"dir","mode":"0755","mtime":0}]})";
    auto m = Manifest::from_json(text);
    ASSERT_FALSE(m) << bad;
    EXPECT_EQ(m.error().code, Errc::kCorruption);
    EXPECT_TRUE(m.error().message.starts_with("manifest entry 1: ")) << m.error().message;
  }
}

TEST(FormatTest, ValidateEntryPath) {
  for (std::string_view good : {"sources/a", "sources/a/tree/b c/d.yaml", "x", "sources/ä/ü",
                                "sources/a/.hidden", "sources/a/..x", "sources/a/x.."})
    EXPECT_TRUE(validate_entry_path(good)) << good;
  for (std::string_view bad : std::initializer_list<std::string_view>{
           "", "/etc/x", "../x", "sources/a/../../x", "sources/a/..", "./x", "sources/./x",
           "sources//x", "sources/a/", "sources\\a", "sources/a\nb", std::string_view("a\0b", 3),
           "sources/\xff", "sources/\xc0\xaf", "sources/\xed\xa0\x80"}) {
    auto st = validate_entry_path(bad);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().code, Errc::kCorruption);
  }
  EXPECT_TRUE(validate_entry_path(std::string(4096, 'a')));
  EXPECT_FALSE(validate_entry_path(std::string(4097, 'a')));
  auto st = validate_entry_path("../x");
  EXPECT_NE(st.error().message.find("../x"), std::string::npos);
}

}  // namespace
}  // namespace flinkbr::archive

namespace flinkbr::archive {
namespace {

// The text is what docs/archive-format.md shows and what every earlier version wrote, byte for
// byte, whether built whole or piece by piece (the writer spools it line by line).
TEST(FormatTest, ManifestTextIsOneEntryPerLineInOrder) {
  Manifest m;
  m.entries = {{.path = "sources/conf", .type = EntryType::kDirectory, .mode = 0755, .mtime = 7},
               {.path = "sources/conf/a",
                .size = 3,
                .sha256 = std::string(64, 'a'),
                .mode = 0644,
                .mtime = 8}};
  const std::string want =
      "{\n  \"format_version\": 1,\n  \"entries\": [\n"
      "    {\"path\":\"sources/conf\",\"type\":\"dir\",\"mode\":\"0755\",\"mtime\":7},\n"
      "    {\"path\":\"sources/conf/a\",\"type\":\"file\",\"size\":3,\"sha256\":\"" +
      std::string(64, 'a') +
      "\",\"mode\":\"0644\",\"mtime\":8}\n"
      "  ]\n}\n";
  EXPECT_EQ(m.to_json(), want);
  EXPECT_EQ(manifest_begin() + manifest_line(m.entries[0], 0) + manifest_line(m.entries[1], 1) +
                manifest_end(2),
            want);
  EXPECT_EQ(Manifest{}.to_json(), "{\n  \"format_version\": 1,\n  \"entries\": []\n}\n");
  EXPECT_EQ(manifest_begin() + manifest_end(0), Manifest{}.to_json());
}

TEST(FormatTest, ParseManifestHandsOverEntriesOneByOne) {
  Manifest m;
  for (int i = 0; i < 5; ++i)
    m.entries.push_back({.path = "sources/s/" + std::to_string(i),
                         .type = EntryType::kDirectory,
                         .mode = 0700,
                         .mtime = i});
  std::istringstream in(m.to_json());
  std::vector<std::string> got;
  auto st = parse_manifest(in, [&](ManifestEntry&& e, uint64_t i) -> Status {
    EXPECT_EQ(i, got.size());
    got.push_back(e.path);
    return ok();
  });
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(got, (std::vector<std::string>{"sources/s/0", "sources/s/1", "sources/s/2",
                                           "sources/s/3", "sources/s/4"}));

  // The sink's refusal stops the deliveries and is returned once the text is known valid.
  std::istringstream again(m.to_json());
  int calls = 0;
  st = parse_manifest(again, [&](ManifestEntry&&, uint64_t i) -> Status {
    ++calls;
    if (i == 1) return corruption("stop at 1");
    return ok();
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "stop at 1");
  EXPECT_EQ(calls, 2);

  // ... but a bad format_version comes first.
  std::string v2 = m.to_json();
  v2.replace(v2.find("\"format_version\": 1"), 19, "\"format_version\": 2");
  std::istringstream bad(v2);
  st = parse_manifest(bad, [&](ManifestEntry&&, uint64_t) -> Status { return corruption("x"); });
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("format_version 2"), std::string::npos) << st.error().message;
}

}  // namespace
}  // namespace flinkbr::archive
