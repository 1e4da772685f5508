#include "io/layers.h"

#include <isa-l/igzip_lib.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/text.h"

namespace flinkbr::io {

namespace {

// zlib counts in uInt; feed it at most this much per call.
constexpr size_t kMaxZChunk = 1u << 30;
constexpr size_t kGzipBufferSize = 256 * 1024;
constexpr std::string_view kDataAfterEnd =
    "gzip stream has data after its end (a backup file is exactly one gzip member)";

struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

std::string to_hex(const unsigned char* data, size_t n) {
  return hex_lower({reinterpret_cast<const char*>(data), n});
}

}  // namespace

// ---- Sha256 ----

struct Sha256::Impl {
  std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter> ctx;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  impl_->ctx.reset(EVP_MD_CTX_new());
  // Both calls only fail on allocation failure, which we treat like operator new does.
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256::~Sha256() = default;

void Sha256::update(std::span<const std::byte> data) {
  if (!data.empty()) EVP_DigestUpdate(impl_->ctx.get(), data.data(), data.size());
}

std::string Sha256::hex_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx.get(), md, &len);
  return to_hex(md, len);
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(as_bytes(data));
  return h.hex_digest();
}

// ---- Hashing layers ----

Status HashingWriter::write(std::span<const std::byte> data) {
  TRY(inner_.write(data));
  hash_.update(data);
  bytes_ += data.size();
  return ok();
}

Status HashingWriter::finish() {
  if (digest_.empty()) digest_ = hash_.hex_digest();
  return inner_.finish();
}

Result<size_t> HashingReader::read(std::span<std::byte> out) {
  size_t n = TRY(inner_.read(out));
  hash_.update(out.first(n));
  bytes_ += n;
  if (on_progress_) on_progress_(bytes_);
  return n;
}

// ---- gzip ----

namespace {

class GzipWriter final : public Writer {
 public:
  GzipWriter(Writer& inner, GzipOptions options) : inner_(inner), out_(kGzipBufferSize) {
    int level = std::clamp(options.level, 1, 9);
    // windowBits 15 + 16: a gzip wrapper rather than zlib's. memLevel 8 is zlib's default.
    init_ = deflateInit2(&zs_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  }
  ~GzipWriter() override {
    if (init_ == Z_OK) deflateEnd(&zs_);
  }
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  Status write(std::span<const std::byte> data) override {
    TRY(check_usable());
    while (!data.empty()) {
      size_t chunk = std::min(data.size(), kMaxZChunk);
      zs_.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(data.data()));
      zs_.avail_in = static_cast<uInt>(chunk);
      while (zs_.avail_in > 0) TRY(run(Z_NO_FLUSH));
      data = data.subspan(chunk);
    }
    return ok();
  }

  Status finish() override {
    TRY(check_usable());
    zs_.next_in = nullptr;
    zs_.avail_in = 0;
    for (;;) {
      int ret = TRY(run(Z_FINISH));
      if (ret == Z_STREAM_END) break;
    }
    finished_ = true;
    return inner_.finish();
  }

 private:
  Status check_usable() {
    if (init_ != Z_OK)
      return internal_error("gzip: deflateInit2 failed (" + std::to_string(init_) + ")");
    if (failed_) return failed_precondition("gzip: the stream failed earlier");
    if (finished_) return failed_precondition("gzip: write after finish()");
    return ok();
  }

  // One deflate call; writes whatever output it produced to inner_.
  Result<int> run(int flush) {
    zs_.next_out = reinterpret_cast<Bytef*>(out_.data());
    zs_.avail_out = static_cast<uInt>(out_.size());
    int ret = deflate(&zs_, flush);
    if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) {
      failed_ = true;
      return internal_error("gzip: deflate failed (" + std::to_string(ret) + ")");
    }
    size_t produced = out_.size() - zs_.avail_out;
    if (produced > 0) {
      auto st = inner_.write(std::span<const std::byte>(out_.data(), produced));
      if (!st) {
        failed_ = true;
        return std::unexpected(std::move(st).error());
      }
    }
    return ret;
  }

  Writer& inner_;
  z_stream zs_{};
  int init_ = Z_STREAM_ERROR;
  std::vector<std::byte> out_;
  bool failed_ = false;
  bool finished_ = false;
};

class ZlibGzipReader final : public Reader {
 public:
  ZlibGzipReader(Reader& inner, GzipMembers members)
      : inner_(inner), members_(members), in_(kGzipBufferSize) {
    // windowBits 15 + 32: detect the gzip (or zlib) wrapper automatically.
    init_ = inflateInit2(&zs_, 15 + 32);
  }
  ~ZlibGzipReader() override {
    if (init_ == Z_OK) inflateEnd(&zs_);
  }
  ZlibGzipReader(const ZlibGzipReader&) = delete;
  ZlibGzipReader& operator=(const ZlibGzipReader&) = delete;

  Result<size_t> read(std::span<std::byte> out) override {
    if (init_ != Z_OK)
      return internal_error("gzip: inflateInit2 failed (" + std::to_string(init_) + ")");
    if (error_) return std::unexpected(*error_);
    if (done_ || out.empty()) return size_t{0};
    auto r = read_some(out);
    if (!r) error_ = r.error();
    return r;
  }

 private:
  Result<size_t> read_some(std::span<std::byte> out) {
    const size_t want = std::min(out.size(), kMaxZChunk);
    zs_.next_out = reinterpret_cast<Bytef*>(out.data());
    zs_.avail_out = static_cast<uInt>(want);
    for (;;) {
      if (zs_.avail_in == 0 && !in_eof_) {
        size_t n = TRY(inner_.read(in_));
        if (n == 0) {
          in_eof_ = true;
        } else {
          zs_.next_in = reinterpret_cast<Bytef*>(in_.data());
          zs_.avail_in = static_cast<uInt>(n);
        }
      }
      if (member_end_) {
        // A gzip file may hold several members one after the other (`cat a.gz b.gz`).
        if (zs_.avail_in == 0) {
          if (in_eof_) {
            done_ = true;
            return want - zs_.avail_out;
          }
          continue;
        }
        if (members_ == GzipMembers::kOne) return corruption(std::string(kDataAfterEnd));
        if (inflateReset(&zs_) != Z_OK) return internal_error("gzip: inflateReset failed");
        member_end_ = false;
      }
      int ret = inflate(&zs_, Z_NO_FLUSH);
      size_t produced = want - zs_.avail_out;
      switch (ret) {
        case Z_STREAM_END:
          member_end_ = true;
          break;
        case Z_OK:
          break;
        case Z_BUF_ERROR:  // no progress possible: needs more input
          if (zs_.avail_in == 0 && in_eof_) {
            if (produced > 0) return produced;  // report the truncation on the next call
            return corruption("gzip stream is truncated");
          }
          break;
        case Z_DATA_ERROR:
        case Z_NEED_DICT:
          return corruption(std::string("gzip stream is corrupt: ") +
                            (zs_.msg ? zs_.msg : "invalid data"));
        default:
          return internal_error("gzip: inflate failed (" + std::to_string(ret) + ")");
      }
      if (produced > 0) return produced;
    }
  }

  Reader& inner_;
  const GzipMembers members_;
  z_stream zs_{};
  int init_ = Z_STREAM_ERROR;
  std::vector<std::byte> in_;
  bool in_eof_ = false;
  bool member_end_ = false;
  bool done_ = false;
  std::optional<Error> error_;  // sticky: a failed stream keeps failing
};

// zlib's words for the same faults, so that messages do not depend on the engine.
std::string isal_error_text(int ret) {
  switch (ret) {
    case ISAL_INVALID_BLOCK:
      return "invalid block type";
    case ISAL_INVALID_SYMBOL:
      return "invalid code";
    case ISAL_INVALID_LOOKBACK:
      return "invalid distance too far back";
    case ISAL_INVALID_WRAPPER:
      return "incorrect header check";
    case ISAL_UNSUPPORTED_METHOD:
      return "unknown compression method";
    case ISAL_INCORRECT_CHECKSUM:
      return "incorrect data check";
    case ISAL_NEED_DICT:
      return "need dictionary";
    default:
      return "invalid data (" + std::to_string(ret) + ")";
  }
}

// gzip through ISA-L's inflate. ISAL_GZIP makes it parse each member's header and check its
// trailer (CRC-32 and length).
class IsalGzipReader final : public Reader {
 public:
  IsalGzipReader(Reader& inner, GzipMembers members)
      : inner_(inner), members_(members), in_(kGzipBufferSize) {
    isal_inflate_init(&st_);
    st_.crc_flag = ISAL_GZIP;
  }
  IsalGzipReader(const IsalGzipReader&) = delete;
  IsalGzipReader& operator=(const IsalGzipReader&) = delete;

  Result<size_t> read(std::span<std::byte> out) override {
    if (error_) return std::unexpected(*error_);
    if (done_ || out.empty()) return size_t{0};
    auto r = read_some(out);
    if (!r) error_ = r.error();
    return r;
  }

 private:
  Result<size_t> read_some(std::span<std::byte> out) {
    const size_t want = std::min<size_t>(out.size(), UINT32_MAX);
    st_.next_out = reinterpret_cast<uint8_t*>(out.data());
    st_.avail_out = static_cast<uint32_t>(want);
    for (;;) {
      if (st_.avail_in == 0 && !in_eof_) {
        size_t n = TRY(inner_.read(in_));
        if (n == 0) {
          in_eof_ = true;
        } else {
          st_.next_in = reinterpret_cast<uint8_t*>(in_.data());
          st_.avail_in = static_cast<uint32_t>(n);
        }
      }
      if (member_end_) {
        // A gzip file may hold several members one after the other (`cat a.gz b.gz`).
        if (st_.avail_in == 0) {
          if (in_eof_) {
            done_ = true;
            return want - st_.avail_out;
          }
          continue;
        }
        if (members_ == GzipMembers::kOne) return corruption(std::string(kDataAfterEnd));
        // The reset forgets the buffers; what is left of the input belongs to the next member.
        uint8_t* next_in = st_.next_in;
        uint32_t avail_in = st_.avail_in;
        uint8_t* next_out = st_.next_out;
        uint32_t avail_out = st_.avail_out;
        isal_inflate_reset(&st_);
        st_.crc_flag = ISAL_GZIP;
        st_.next_in = next_in;
        st_.avail_in = avail_in;
        st_.next_out = next_out;
        st_.avail_out = avail_out;
        member_end_ = false;
      }
      const uint32_t in_before = st_.avail_in;
      int ret = isal_inflate(&st_);
      if (ret < 0) return corruption("gzip stream is corrupt: " + isal_error_text(ret));
      size_t produced = want - st_.avail_out;
      if (st_.block_state == ISAL_BLOCK_FINISH) {
        member_end_ = true;
      } else if (st_.avail_in == 0 && in_eof_ && st_.avail_in == in_before) {
        // No input left and none consumed: the member can never end.
        if (produced > 0) return produced;  // report the truncation on the next call
        return corruption("gzip stream is truncated");
      }
      if (produced > 0) return produced;
    }
  }

  Reader& inner_;
  const GzipMembers members_;
  inflate_state st_{};
  std::vector<std::byte> in_;
  bool in_eof_ = false;
  bool member_end_ = false;
  bool done_ = false;
  std::optional<Error> error_;  // sticky: a failed stream keeps failing
};

}  // namespace

std::unique_ptr<Writer> gzip_writer(Writer& inner, GzipOptions options) {
  return std::make_unique<GzipWriter>(inner, options);
}

std::unique_ptr<Reader> gzip_reader(Reader& inner, DeflateEngine engine, GzipMembers members) {
  if (engine == DeflateEngine::kZlib) return std::make_unique<ZlibGzipReader>(inner, members);
  return std::make_unique<IsalGzipReader>(inner, members);
}

// ---- ReadAhead ----

struct ReadAhead::State {
  State(Reader& r, size_t size, size_t count) : inner(r), chunk_size(size), max_chunks(count) {}

  struct Chunk {
    std::vector<std::byte> data;
    size_t len = 0;
  };

  Reader& inner;
  const size_t chunk_size;
  const size_t max_chunks;
  std::mutex mu;
  std::condition_variable filled_cv;  // caller: a chunk, the end or an error arrived
  std::condition_variable room_cv;    // reader thread: a chunk was consumed, or stop
  std::deque<Chunk> ready;            // filled, in order
  std::vector<Chunk> spare;           // consumed, for reuse
  size_t pos = 0;                     // consumed bytes of ready.front()
  bool eof = false;
  std::optional<Error> error;  // after the chunks in `ready`
  bool stop = false;
  bool closed = false;
  std::thread thread;

  void run() {
    for (;;) {
      Chunk c;
      {
        std::unique_lock lock(mu);
        room_cv.wait(lock, [&] { return stop || ready.size() < max_chunks; });
        if (stop) return;
        if (!spare.empty()) {
          c = std::move(spare.back());
          spare.pop_back();
        }
      }
      if (c.data.size() != chunk_size) c.data.resize(chunk_size);
      auto n = inner.read(c.data);
      std::lock_guard lock(mu);
      if (!n) {
        error = std::move(n).error();
      } else if (*n == 0) {
        eof = true;
      } else {
        c.len = *n;
        ready.push_back(std::move(c));
      }
      filled_cv.notify_all();
      if (!n || *n == 0) return;
    }
  }
};

ReadAhead::ReadAhead(Reader& inner, size_t chunk_size, size_t chunks)
    : state_(std::make_unique<State>(inner, std::max<size_t>(chunk_size, 1),
                                     std::max<size_t>(chunks, 1))) {
  state_->thread = std::thread([s = state_.get()] { s->run(); });
}

ReadAhead::~ReadAhead() {
  close();
}

void ReadAhead::close() {
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
    state_->closed = true;
  }
  state_->room_cv.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
}

Result<size_t> ReadAhead::read(std::span<std::byte> out) {
  State& s = *state_;
  std::unique_lock lock(s.mu);
  if (s.closed) return failed_precondition("read-ahead: read after close()");
  if (out.empty()) return size_t{0};
  s.filled_cv.wait(lock, [&] { return !s.ready.empty() || s.eof || s.error; });
  if (s.ready.empty()) {
    if (s.error) return std::unexpected(*s.error);
    return size_t{0};
  }
  // Copy out under the lock: the reader thread only touches chunks it took from `spare`.
  State::Chunk& c = s.ready.front();
  size_t n = std::min(out.size(), c.len - s.pos);
  std::memcpy(out.data(), c.data.data() + s.pos, n);
  s.pos += n;
  if (s.pos == c.len) {
    s.spare.push_back(std::move(c));
    s.ready.pop_front();
    s.pos = 0;
    lock.unlock();
    s.room_cv.notify_one();
  }
  return n;
}

}  // namespace flinkbr::io
