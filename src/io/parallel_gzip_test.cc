#include "io/parallel_gzip.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

namespace flinkbr::io {
namespace {

constexpr size_t kBlock = 64 * 1024;  // the smallest block, so that tests cross many boundaries

// Compressible like the payload of a backup: words from a small alphabet, some random bytes.
std::string sample(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = (i / 4096) % 5 == 4 ? static_cast<char>(rng() & 0xff) : "abcdefgh \n"[rng() % 10];
  return s;
}

// Compresses `data` in uneven pieces; the result and the writer's peak block count.
struct Compressed {
  std::string gz;
  size_t peak = 0;
};
Compressed pgzip(std::string_view data, ParallelGzipOptions options) {
  StringWriter sink;
  auto w = ParallelGzipWriter::create(sink, options);
  EXPECT_TRUE(w) << w.error().message;
  if (!w) return {};
  size_t pos = 0, step = 1;
  while (pos < data.size()) {
    size_t n = std::min(step, data.size() - pos);
    EXPECT_TRUE((*w)->write(as_bytes(data.substr(pos, n))));
    pos += n;
    step = step * 5 + 11;
  }
  auto st = (*w)->finish();
  EXPECT_TRUE(st) << st.error().message;
  return {sink.str(), (*w)->peak_blocks()};
}

Result<std::string> gunzip(std::string data, DeflateEngine engine) {
  StringReader src(std::move(data));
  auto gz = gzip_reader(src, engine);
  return read_all(*gz, size_t{1} << 30);
}

// Runs `gzip -dc` (or -t) on the data through a temporary file.
struct SystemGzip {
  int status = -1;
  std::string out;
};
SystemGzip system_gzip(const std::string& gz, const std::string& flags) {
  std::string path = (std::filesystem::temp_directory_path() / "flinkbr-pgz-XXXXXX").string();
  int fd = mkstemp(path.data());
  EXPECT_GE(fd, 0);
  if (fd >= 0) close(fd);
  {
    std::ofstream f(path, std::ios::binary);
    f.write(gz.data(), static_cast<std::streamsize>(gz.size()));
  }
  SystemGzip r;
  FILE* p = popen(("gzip " + flags + " '" + path + "'").c_str(), "r");
  if (p) {
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    r.status = pclose(p);
  }
  std::filesystem::remove(path);
  return r;
}

TEST(CompressionTest, ParsesAndPrints) {
  auto c = Compression::parse("isal:1", "server.compression");
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, (Compression{DeflateEngine::kIsal, 1}));
  EXPECT_EQ(c->to_string(), "isal:1");
  c = Compression::parse("zlib:9", "server.compression");
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, (Compression{DeflateEngine::kZlib, 9}));
  for (std::string_view bad :
       {"isal:4", "zlib:0", "zlib:10", "isal", "gzip:6", "isal:1x", "", "zlib:", ":1"}) {
    auto r = Compression::parse(bad, "server.compression");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
    EXPECT_NE(r.error().message.find("isal:<0-3>"), std::string::npos) << r.error().message;
  }
}

TEST(ParallelGzipTest, RefusesOptionsOutOfRange) {
  StringWriter sink;
  EXPECT_FALSE(ParallelGzipWriter::create(sink, {.compression = {DeflateEngine::kIsal, 4}}));
  EXPECT_FALSE(ParallelGzipWriter::create(sink, {.compression = {DeflateEngine::kZlib, 0}}));
  EXPECT_FALSE(ParallelGzipWriter::create(sink, {.block_size = 1000}));
  EXPECT_FALSE(ParallelGzipWriter::create(sink, {.threads = -1}));
}

// Sizes around the block boundaries, every engine and level: zlib, ISA-L and gzip(1) all read
// back exactly the input.
TEST(ParallelGzipTest, RoundTripsAroundBlockBoundaries) {
  const std::string data = sample(7 * kBlock + 123, 1);
  const std::vector<Compression> engines = {{DeflateEngine::kIsal, 0}, {DeflateEngine::kIsal, 1},
                                            {DeflateEngine::kIsal, 2}, {DeflateEngine::kIsal, 3},
                                            {DeflateEngine::kZlib, 1}, {DeflateEngine::kZlib, 6},
                                            {DeflateEngine::kZlib, 9}};
  for (const auto& c : engines) {
    for (size_t size : {size_t{0}, size_t{1}, kBlock - 1, kBlock, kBlock + 1, 2 * kBlock,
                        5 * kBlock + 7, data.size()}) {
      SCOPED_TRACE(c.to_string() + " size " + std::to_string(size));
      std::string in = data.substr(0, size);
      auto out = pgzip(in, {.compression = c, .threads = 3, .block_size = kBlock});
      for (auto engine : {DeflateEngine::kZlib, DeflateEngine::kIsal}) {
        auto back = gunzip(out.gz, engine);
        ASSERT_TRUE(back) << back.error().message;
        EXPECT_TRUE(*back == in);
      }
    }
  }
}

TEST(ParallelGzipTest, SystemGzipReadsItAsOneStream) {
  for (size_t size : {size_t{0}, kBlock, 9 * kBlock + 5}) {
    std::string in = sample(size, 2);
    auto out = pgzip(in, {.threads = 2, .block_size = kBlock});
    // One member: the header's magic appears once, at the start.
    EXPECT_EQ(out.gz.substr(0, 2), "\x1f\x8b");
    auto dc = system_gzip(out.gz, "-dc");
    EXPECT_EQ(dc.status, 0);
    EXPECT_TRUE(dc.out == in) << "size " << size;
    EXPECT_EQ(system_gzip(out.gz, "-t").status, 0);
  }
}

// Each block is compressed from its own bytes and the 32 KiB before it, so the output does not
// depend on how many threads did the work.
TEST(ParallelGzipTest, OutputDoesNotDependOnThreads) {
  std::string in = sample(11 * kBlock + 99, 3);
  auto one = pgzip(in, {.threads = 1, .block_size = kBlock});
  auto four = pgzip(in, {.threads = 4, .block_size = kBlock});
  EXPECT_TRUE(one.gz == four.gz);
}

// Priming each block with the previous one's tail keeps repeated content compressible across
// the cut: two copies of a random block compress to about one.
TEST(ParallelGzipTest, BlocksSeeThePreviousBlock) {
  std::mt19937 rng(4);
  std::string half(kBlock / 4, '\0');
  for (auto& ch : half) ch = static_cast<char>(rng() & 0xff);
  // The block boundary falls between the two copies.
  std::string in = sample(kBlock - half.size(), 5) + half + half;
  auto out = pgzip(in, {.threads = 2, .block_size = kBlock});
  EXPECT_LT(out.gz.size(), in.size() - half.size() / 2);
}

TEST(ParallelGzipTest, NeverHoldsMoreThanMaxBlocks) {
  std::string in = sample(40 * kBlock, 6);
  auto out = pgzip(in, {.threads = 2, .block_size = kBlock, .max_blocks = 3});
  EXPECT_GE(out.peak, 1u);
  EXPECT_LE(out.peak, 3u);
  auto back = gunzip(out.gz, DeflateEngine::kIsal);
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == in);
  // The default bound follows the threads.
  StringWriter sink;
  auto w = ParallelGzipWriter::create(sink, {.threads = 3});
  ASSERT_TRUE(w);
  EXPECT_EQ((*w)->max_blocks(), 8u);
}

// Fails its n-th write; counts finish() calls.
class FailingWriter final : public Writer {
 public:
  explicit FailingWriter(int fail_at) : fail_at_(fail_at) {}
  Status write(std::span<const std::byte>) override {
    if (++writes_ >= fail_at_) return io_error("disk full");
    return ok();
  }
  Status finish() override {
    ++finishes_;
    return ok();
  }
  int finishes() const { return finishes_; }

 private:
  int fail_at_;
  int writes_ = 0;
  int finishes_ = 0;
};

TEST(ParallelGzipTest, InnerErrorsReachTheCaller) {
  for (int fail_at : {1, 2, 5}) {
    SCOPED_TRACE("failing write " + std::to_string(fail_at));
    FailingWriter sink(fail_at);
    auto w = ParallelGzipWriter::create(sink, {.threads = 2, .block_size = kBlock});
    ASSERT_TRUE(w);
    std::string in = sample(30 * kBlock, 7);
    Status st = ok();
    for (size_t pos = 0; pos < in.size() && st; pos += kBlock / 2)
      st = (*w)->write(as_bytes(std::string_view(in).substr(pos, kBlock / 2)));
    if (st) st = (*w)->finish();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::kIOError);
    EXPECT_EQ(st.error().message, "disk full");
    EXPECT_FALSE((*w)->finish());
    EXPECT_EQ(sink.finishes(), 0);  // a failed stream is never committed
  }
}

// A writer given up half-way (a cancelled backup) stops its threads and does not finish the
// writer beneath it.
TEST(ParallelGzipTest, AbandonedWriterStopsWithoutFinishing) {
  FailingWriter sink(1 << 30);
  {
    auto w = ParallelGzipWriter::create(sink, {.threads = 2, .block_size = kBlock});
    ASSERT_TRUE(w);
    std::string in = sample(20 * kBlock + 3, 8);
    ASSERT_TRUE((*w)->write(as_bytes(in)));
  }
  EXPECT_EQ(sink.finishes(), 0);
}

TEST(ParallelGzipTest, WriteAfterFinishIsRefused) {
  StringWriter sink;
  auto w = ParallelGzipWriter::create(sink, {});
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->write(as_bytes("abc")));
  ASSERT_TRUE((*w)->finish());
  auto st = (*w)->write(as_bytes("more"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kFailedPrecondition);
}

// ISA-L's inflate refuses a parallel stream cut anywhere, including at block boundaries, with
// the same words as before.
TEST(ParallelGzipTest, TruncatedOrCorruptStreamsAreRefused) {
  std::string in = sample(6 * kBlock, 9);
  std::string gz = pgzip(in, {.threads = 2, .block_size = kBlock}).gz;
  for (size_t keep : {size_t{0}, size_t{9}, size_t{10}, gz.size() / 3, gz.size() / 2, gz.size() - 9,
                      gz.size() - 8, gz.size() - 4, gz.size() - 1}) {
    auto back = gunzip(gz.substr(0, keep), DeflateEngine::kIsal);
    ASSERT_FALSE(back) << "kept " << keep;
    EXPECT_EQ(back.error().code, Errc::kCorruption);
    EXPECT_EQ(back.error().message, "gzip stream is truncated") << "kept " << keep;
  }
  for (size_t pos : {gz.size() / 2, gz.size() - 7, gz.size() - 3}) {
    std::string bad = gz;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x04);
    auto back = gunzip(bad, DeflateEngine::kIsal);
    ASSERT_FALSE(back) << "flipped " << pos;
    EXPECT_EQ(back.error().code, Errc::kCorruption);
    EXPECT_TRUE(back.error().message.starts_with("gzip stream is corrupt: "))
        << back.error().message;
  }
  // Something after the member that is not another member.
  auto trailing = gunzip(gz + "this is no gzip member, only trailing text", DeflateEngine::kIsal);
  ASSERT_FALSE(trailing);
  EXPECT_EQ(trailing.error().message, "gzip stream is corrupt: incorrect header check");
}

// ---- ReadAhead ----

// Yields its data in pieces of `piece` bytes, then fails when `fail` is set.
class PieceReader final : public Reader {
 public:
  PieceReader(std::string data, size_t piece, bool fail)
      : data_(std::move(data)), piece_(piece), fail_(fail) {}
  Result<size_t> read(std::span<std::byte> out) override {
    if (pos_ == data_.size()) {
      if (fail_) return io_error("network down");
      return size_t{0};
    }
    size_t n = std::min({out.size(), piece_, data_.size() - pos_});
    std::memcpy(out.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t piece_;
  bool fail_;
  size_t pos_ = 0;
};

TEST(ReadAheadTest, PassesEverythingThroughInOrder) {
  std::string data = sample(3'000'001, 10);
  PieceReader src(data, 77'777, false);
  ReadAhead ahead(src, 100'000, 3);
  std::string out;
  std::byte buf[33'333];
  for (;;) {
    auto n = ahead.read(buf);
    ASSERT_TRUE(n) << n.error().message;
    if (*n == 0) break;
    out.append(reinterpret_cast<const char*>(buf), *n);
  }
  EXPECT_TRUE(out == data);
  auto again = ahead.read(buf);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0u);
}

TEST(ReadAheadTest, ErrorComesAfterTheDataBeforeIt) {
  std::string data = sample(500'000, 11);
  PieceReader src(data, 4096, true);
  ReadAhead ahead(src, 65536, 2);
  auto all = read_all(ahead, size_t{1} << 30);
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().message, "network down");
  ahead.close();
  std::byte b[1];
  auto after = ahead.read(b);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, Errc::kFailedPrecondition);
}

TEST(ReadAheadTest, ClosingEarlyStopsTheThread) {
  std::string data = sample(5'000'000, 12);
  PieceReader src(data, 1000, false);
  ReadAhead ahead(src, 4096, 2);
  std::byte b[10];
  ASSERT_TRUE(ahead.read(b));
  ahead.close();  // returns although most of the data was never read
}

}  // namespace
}  // namespace flinkbr::io
