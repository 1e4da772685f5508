// The payload codec alone: what the engine relies on to read ZooKeeper payloads from a file.
#include "source/zookeeper/codec.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace flinkbr::source::zookeeper {
namespace {

TEST(ZkCodec, LinesRoundTripBinaryNullAndEmptyData) {
  std::vector<std::pair<std::string, Znode>> in = {
      {"/", Znode{std::nullopt, {{31, "world", "anyone"}}, false, false}},
      {"/a", Znode{std::string("\0\x01\xff", 3), {{1, "digest", "flink:abc="}}, false, false}},
      {"/a/lock-0000000001", Znode{std::string(), {{31, "auth", ""}}, true, false}},
      {"/caf\xc3\xa9", Znode{std::string("x"), {{31, "world", "anyone"}}, false, false}},
  };
  std::string part;
  for (const auto& [rel, z] : in) ASSERT_TRUE(append_line(part, rel, z));
  std::vector<std::pair<std::string, Znode>> out;
  auto st = for_each_line(part, [&](std::string rel, Znode& z) -> Status {
    out.emplace_back(std::move(rel), std::move(z));
    return ok();
  });
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].first, in[i].first);
    EXPECT_EQ(out[i].second.data, in[i].second.data) << in[i].first;
    EXPECT_EQ(out[i].second.acl, in[i].second.acl) << in[i].first;
    EXPECT_EQ(out[i].second.sequential, in[i].second.sequential) << in[i].first;
  }
}

TEST(ZkCodec, NonCanonicalSpellingParsesAndErrorsNameTheLine) {
  auto z = parse_line(
      R"({ "sequential": false, "path": "/x", "data": "AAE=", "acl": [ {"scheme": "world", "id": "anyone", "perms": 31} ] })",
      1);
  ASSERT_TRUE(z) << z.error().message;
  EXPECT_EQ(z->first, "/x");
  EXPECT_EQ(z->second.data, std::string("\0\x01", 2));

  std::string part = R"({"acl":[],"data":null,"path":"/","sequential":false})"
                     "\n";
  auto st = for_each_line(
      part, [](std::string, Znode&) { return ok(); }, 7);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kCorruption);
  EXPECT_EQ(st.error().message, "zookeeper payload line 7: /: acl must be a non-empty list");

  auto torn = for_each_line("{\"acl\"", [](std::string, Znode&) { return ok(); });
  ASSERT_FALSE(torn);
  EXPECT_EQ(torn.error().message, "zookeeper payload: a part does not end a line");
  EXPECT_EQ(part_name(12), "znodes/part-000012.jsonl");
}

// The decoder is table-driven with the last (maybe padded) quantum apart: every length round
// trips, and a spelling that is not canonical base64 is refused wherever its fault lies.
TEST(ZkCodec, Base64RoundTripsEveryLengthAndRefusesNonCanonicalSpellings) {
  std::string bytes;
  for (size_t n = 0; n <= 70; ++n) {
    std::string enc;
    b64_append(enc, bytes);
    auto dec = b64_decode(enc);
    ASSERT_TRUE(dec) << n;
    EXPECT_EQ(*dec, bytes) << n;
    std::string into = "keep";
    ASSERT_TRUE(b64_decode_into(into, enc)) << n;
    EXPECT_EQ(into, "keep" + bytes) << n;
    bytes += static_cast<char>((n * 97 + 13) & 0xff);
  }
  EXPECT_EQ(b64_decode("AAECAwQF/+/+"), std::string("\0\x01\x02\x03\x04\x05\xff\xef\xfe", 9));
  for (const char* bad : {"A", "AAE", "AA=A", "A===", "====", "AAE=AAAA",
                          "AB==", "AAF=", "AA\"=", "AAAA AAA", "AA-A", "AA_A", "AAAAAA\n="}) {
    EXPECT_FALSE(b64_decode(bad)) << bad;
    std::string into = "keep";
    EXPECT_FALSE(b64_decode_into(into, bad)) << bad;
    EXPECT_EQ(into, "keep") << bad;
  }
  // A canonical line whose data holds a byte outside the alphabet goes the JSON way and is
  // refused there, naming the line.
  auto z = parse_line(
      R"({"acl":[{"id":"anyone","perms":31,"scheme":"world"}],"data":"AA\u0045=","path":"/x","sequential":false})",
      3);
  ASSERT_TRUE(z) << z.error().message;
  EXPECT_EQ(z->second.data, std::string("\0\x01", 2));
  auto bad = parse_line(
      R"({"acl":[{"id":"anyone","perms":31,"scheme":"world"}],"data":"AA E","path":"/x","sequential":false})",
      3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "zookeeper payload line 3: /x: data is not valid base64");
}

}  // namespace
}  // namespace flinkbr::source::zookeeper
