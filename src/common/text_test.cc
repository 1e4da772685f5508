#include "common/text.h"

#include <gtest/gtest.h>

namespace flinkbr {
namespace {

TEST(PercentDecode, DecodesEscapesOfEitherCaseAndPassesOtherBytes) {
  EXPECT_EQ(percent_decode("file:/data/a%20b%2fc%2F"), "file:/data/a b/c/");
  EXPECT_EQ(percent_decode("%C3%A9t%c3%a9"), "\xC3\xA9t\xC3\xA9");
  EXPECT_EQ(percent_decode("\xC3\xA9+x"), "\xC3\xA9+x");  // raw UTF-8 and '+' stay as they are
  EXPECT_EQ(percent_decode("%00"), std::string(1, '\0'));
  EXPECT_EQ(percent_decode(""), "");
}

TEST(PercentDecode, RefusesMalformedEscapes) {
  for (std::string_view bad : {"%", "%4", "a%4", "%G0", "%0g", "x%%41", "%-1"})
    EXPECT_EQ(percent_decode(bad), std::nullopt) << bad;
}

TEST(PercentDecode, InvertsPercentEncode) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(percent_decode(percent_encode(all)), all);
  EXPECT_EQ(percent_decode(percent_encode(all, "/:")), all);
}

}  // namespace
}  // namespace flinkbr
