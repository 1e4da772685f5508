#include "archive/unique_paths.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace flinkbr::archive {
namespace {

// Inserts every path; returns the index of the first refused one, or -1.
int first_refused(UniquePaths& set, const std::vector<std::string>& paths) {
  for (size_t i = 0; i < paths.size(); ++i) {
    auto r = set.insert(paths[i]);
    EXPECT_TRUE(r) << r.error().message;
    if (r && !*r) return static_cast<int>(i);
  }
  return -1;
}

TEST(UniquePathsTest, SortedWalksNeedNoTable) {
  // A depth-first walk of sorted names (component order: "d/x" before "d.txt"), a listing
  // sorted by whole paths (byte order: "d.txt" before "d/x"), and zookeeper parts.
  auto set = UniquePaths::create({});
  ASSERT_TRUE(set);
  EXPECT_EQ(
      first_refused(
          *set, {"sources/conf", "sources/conf/tree", "sources/conf/tree/d",
                 "sources/conf/tree/d/x", "sources/conf/tree/d.txt", "sources/remote/tree",
                 "sources/remote/tree/d", "sources/remote/tree/d.txt", "sources/remote/tree/d/x",
                 "sources/ha/znodes/part-000001.jsonl", "sources/ha/znodes/part-000002.jsonl"}),
      -1);
  EXPECT_EQ(set->hash_slots(), 0u);
}

TEST(UniquePathsTest, UnsortedSourcesFallBackToTheTableAndStillRefuseDuplicates) {
  auto set = UniquePaths::create({});
  ASSERT_TRUE(set);
  // A postgres source: tables, then schema.json (breaks both orders).
  ASSERT_EQ(first_refused(*set, {"sources/db/tables/a/part-000001.copy",
                                 "sources/db/tables/b/part-000001.copy", "sources/db/schema.json"}),
            -1);
  EXPECT_GT(set->hash_slots(), 0u);
  EXPECT_FALSE(*set->insert("sources/db/tables/a/part-000001.copy"));
  // The next source starts ordered again.
  ASSERT_TRUE(*set->insert("sources/files/tree"));
  EXPECT_EQ(set->hash_slots(), 0u);
  // A source that comes back: its earlier paths are found wherever they are.
  EXPECT_FALSE(*set->insert("sources/db/schema.json"));
  EXPECT_TRUE(*set->insert("sources/db/other"));
  EXPECT_FALSE(*set->insert("sources/files/tree"));
}

TEST(UniquePathsTest, HashCollisionsAreConfirmedAgainstThePaths) {
  // Every path hashes alike: only the spooled paths tell a collision from a duplicate.
  auto set = UniquePaths::create({}, [](std::string_view) { return uint64_t{42}; });
  ASSERT_TRUE(set);
  std::vector<std::string> paths;
  for (int i = 0; i < 50; ++i) paths.push_back("sources/s/" + std::to_string(50 - i));
  EXPECT_EQ(first_refused(*set, paths), -1);
  EXPECT_FALSE(*set->insert("sources/s/7"));
  EXPECT_TRUE(*set->insert("sources/s/70"));
}

TEST(UniquePathsTest, ManyPathsInNoOrder) {
  auto set = UniquePaths::create({});
  ASSERT_TRUE(set);
  std::vector<std::string> paths;
  for (int i = 0; i < 100000; ++i)
    paths.push_back("sources/s/" + std::to_string((i * 7919) % 100000));
  EXPECT_EQ(first_refused(*set, paths), -1);
  EXPECT_FALSE(*set->insert("sources/s/12345"));
  // At most 3/4 full, 8 bytes a slot.
  EXPECT_GE(set->hash_slots() * 3, 100000u * 4);
  EXPECT_LE(set->hash_slots(), 262144u);
}

}  // namespace
}  // namespace flinkbr::archive
