#include "io/layers.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace flinkbr::io {
namespace {

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Compressible but not trivial: random words from a small alphabet.
std::string text_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = "abcdefgh \n"[rng() % 10];
  return s;
}

std::string gzip(std::string_view data, GzipOptions options = {}) {
  StringWriter sink;
  auto gz = gzip_writer(sink, options);
  // Feed in uneven pieces to exercise the buffering.
  size_t pos = 0, step = 1;
  while (pos < data.size()) {
    size_t n = std::min(step, data.size() - pos);
    EXPECT_TRUE(gz->write(as_bytes(data.substr(pos, n))));
    pos += n;
    step = step * 3 + 7;
  }
  EXPECT_TRUE(gz->finish());
  return sink.str();
}

Result<std::string> gunzip(std::string data) {
  StringReader src(std::move(data));
  auto gz = gzip_reader(src);
  return read_all(*gz, size_t{1} << 30);
}

// A file under the system temp directory removed at scope exit.
class TempFile {
 public:
  TempFile() {
    std::string pattern = (std::filesystem::temp_directory_path() / "flinkbr-io-XXXXXX").string();
    int fd = mkstemp(pattern.data());
    EXPECT_GE(fd, 0);
    if (fd >= 0) close(fd);
    path_ = pattern;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }
  void write(std::string_view data) const {
    std::ofstream f(path_, std::ios::binary | std::ios::trunc);
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  std::string read() const {
    std::ifstream f(path_, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
};

// Runs a shell command and returns its standard output; exit status in *status.
std::string run(const std::string& cmd, int* status) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *status = -1;
    return {};
  }
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

TEST(ViewReaderTest, LendsInPlaceAndReadsWhatIsLeft) {
  const std::string data = "0123456789abcdef";
  ViewReader r(as_bytes(data));
  ASSERT_TRUE(r.lends());
  auto first = r.view(4);
  ASSERT_TRUE(first);
  // In place: the bytes are the caller's, not a copy.
  EXPECT_EQ(reinterpret_cast<const char*>(first->data()), data.data());
  EXPECT_EQ(first->size(), 4u);
  std::string out(5, '\0');
  auto n = r.read(std::as_writable_bytes(std::span(out)));
  ASSERT_TRUE(n);
  EXPECT_EQ(out.substr(0, *n), "45678");
  auto rest = read_all(r, 100);
  ASSERT_TRUE(rest);
  EXPECT_EQ(*rest, "9abcdef");
  auto end = r.view(10);
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->empty());
}

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.update(as_bytes("a"));
  h.update(as_bytes(""));
  h.update(as_bytes("bc"));
  EXPECT_EQ(h.hex_digest(), sha256_hex("abc"));
}

TEST(HashingTest, WriterHashesCountsAndFinishesInner) {
  StringWriter sink;
  HashingWriter w(sink);
  ASSERT_TRUE(w.write(as_bytes("hello ")));
  ASSERT_TRUE(w.write(as_bytes("world")));
  ASSERT_TRUE(w.finish());
  EXPECT_EQ(sink.str(), "hello world");
  EXPECT_EQ(w.bytes(), 11u);
  EXPECT_EQ(w.sha256(), sha256_hex("hello world"));
}

TEST(HashingTest, ReaderHashesCountsAndReportsProgress) {
  std::string data = random_bytes(1'000'000, 1);
  StringReader src(data);
  uint64_t last = 0;
  int calls = 0;
  HashingReader r(src, [&](uint64_t n) {
    EXPECT_GE(n, last);
    last = n;
    ++calls;
  });
  auto all = read_all(r, data.size());
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, data);
  EXPECT_EQ(r.bytes(), data.size());
  EXPECT_EQ(last, data.size());
  EXPECT_GT(calls, 1);
  EXPECT_EQ(r.sha256(), sha256_hex(data));
}

TEST(GzipTest, RoundTripEmpty) {
  std::string gz = gzip("");
  EXPECT_GT(gz.size(), 0u);  // a header and a trailer
  auto back = gunzip(gz);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, "");
}

TEST(GzipTest, RoundTripSmall) {
  auto back = gunzip(gzip("hello, gzip"));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, "hello, gzip");
}

TEST(GzipTest, RoundTripMultiMegabyteRandomAndText) {
  for (const std::string& data :
       {random_bytes(5 * 1024 * 1024 + 17, 2), text_bytes(3'000'001, 3)}) {
    for (int level : {1, 6, 9}) {
      std::string gz = gzip(data, {.level = level});
      auto back = gunzip(gz);
      ASSERT_TRUE(back) << back.error().message;
      EXPECT_EQ(back->size(), data.size());
      EXPECT_TRUE(*back == data) << "level " << level;
    }
  }
}

TEST(GzipTest, ReaderHandlesTinyReadBuffers) {
  std::string data = text_bytes(100'000, 4);
  StringReader src(gzip(data));
  auto gz = gzip_reader(src);
  std::string out;
  std::byte b[3];
  for (;;) {
    auto n = gz->read(b);
    ASSERT_TRUE(n) << n.error().message;
    if (*n == 0) break;
    out.append(reinterpret_cast<const char*>(b), *n);
  }
  EXPECT_EQ(out, data);
}

TEST(GzipTest, SystemGzipReadsWhatWeWrite) {
  std::string data = random_bytes(2 * 1024 * 1024 + 3, 5) + text_bytes(1'000'000, 6);
  TempFile file;
  file.write(gzip(data));
  int status = 0;
  std::string out = run("gzip -dc '" + file.path() + "'", &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(out.size(), data.size());
  EXPECT_TRUE(out == data);
  run("gzip -t '" + file.path() + "'", &status);
  EXPECT_EQ(status, 0);
}

TEST(GzipTest, ReadsSystemGzipOutputAndConcatenatedMembers) {
  std::string a = text_bytes(300'000, 7), b = random_bytes(70'000, 8);
  TempFile fa, fb;
  fa.write(a);
  fb.write(b);
  int status = 0;
  std::string gz = run("gzip -c '" + fa.path() + "' '" + fb.path() + "'", &status);
  ASSERT_EQ(status, 0);
  auto back = gunzip(gz);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(*back == a + b);

  // Our own members concatenated, including an empty one.
  back = gunzip(gzip("one ") + gzip("") + gzip("two"));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, "one two");
}

TEST(GzipTest, OneMemberOnlyRefusesWhatFollowsTheFirstMember) {
  for (DeflateEngine engine : {DeflateEngine::kIsal, DeflateEngine::kZlib}) {
    const std::string one = gzip(text_bytes(100'000, 12));
    // Alone: read whole.
    {
      StringReader src(one);
      auto gz = gzip_reader(src, engine, GzipMembers::kOne);
      auto all = read_all(*gz, 1 << 20);
      ASSERT_TRUE(all) << all.error().message;
      EXPECT_EQ(*all, text_bytes(100'000, 12));
    }
    // A second member, or stray bytes, after it.
    for (const std::string& tail : {gzip("appended"), std::string("\0", 1), std::string("junk")}) {
      StringReader src(one + tail);
      auto gz = gzip_reader(src, engine, GzipMembers::kOne);
      auto all = read_all(*gz, 1 << 20);
      ASSERT_FALSE(all) << "tail of " << tail.size() << " bytes accepted";
      EXPECT_EQ(all.error().code, Errc::kCorruption);
      EXPECT_EQ(all.error().message,
                "gzip stream has data after its end (a backup file is exactly one gzip member)");
    }
  }
}

TEST(GzipTest, TruncatedStreamIsRefused) {
  std::string data = random_bytes(500'000, 9);
  std::string gz = gzip(data);
  for (size_t keep :
       {size_t{0}, size_t{5}, size_t{10}, gz.size() / 2, gz.size() - 8, gz.size() - 1}) {
    auto back = gunzip(gz.substr(0, keep));
    ASSERT_FALSE(back) << "kept " << keep;
    EXPECT_EQ(back.error().code, Errc::kCorruption);
    EXPECT_EQ(back.error().message, "gzip stream is truncated") << "kept " << keep;
  }
}

TEST(GzipTest, BitFlipsAreRefused) {
  std::string data = text_bytes(200'000, 10);
  std::string gz = gzip(data);
  // In the deflate data, in the CRC and in the length of the trailer.
  for (size_t pos : {gz.size() / 2, gz.size() - 6, gz.size() - 2}) {
    std::string bad = gz;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x10);
    auto back = gunzip(bad);
    ASSERT_FALSE(back) << "flipped " << pos;
    EXPECT_EQ(back.error().code, Errc::kCorruption);
    EXPECT_TRUE(back.error().message.starts_with("gzip stream is corrupt")) << back.error().message;
  }
}

TEST(GzipTest, ErrorIsSticky) {
  StringReader src(gzip(random_bytes(100'000, 11)).substr(0, 1000));
  auto gz = gzip_reader(src);
  auto all = read_all(*gz, 1 << 20);
  ASSERT_FALSE(all);
  std::byte b[16];
  auto again = gz->read(b);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::kCorruption);
}

TEST(GzipTest, NotGzipIsRefused) {
  auto back = gunzip("this is plain text, not gzip");
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, Errc::kCorruption);
}

// A writer that fails on its second write: the gzip layer reports the failure and stays failed.
class FailingWriter final : public Writer {
 public:
  Status write(std::span<const std::byte>) override {
    if (++writes_ > 1) return io_error("disk full");
    return ok();
  }
  Status finish() override { return ok(); }

 private:
  int writes_ = 0;
};

TEST(GzipTest, WriterPropagatesInnerErrors) {
  FailingWriter sink;
  auto gz = gzip_writer(sink, {.level = 1});
  std::string data = random_bytes(4 * 1024 * 1024, 12);
  Status st = gz->write(as_bytes(data));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kIOError);
  EXPECT_FALSE(gz->finish());
}

}  // namespace
}  // namespace flinkbr::io
