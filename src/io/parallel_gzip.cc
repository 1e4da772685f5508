#include "io/parallel_gzip.h"

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace flinkbr::io {

// ---- Compression ----

std::string Compression::to_string() const {
  return std::string(engine == DeflateEngine::kIsal ? "isal" : "zlib") + ":" +
         std::to_string(level);
}

Result<Compression> Compression::parse(std::string_view text, const std::string& field) {
  auto bad = [&] {
    return invalid_argument(field, "'" + std::string(text) +
                                       "' is not a compression; expected isal:<0-3> (fast, "
                                       "ISA-L) or zlib:<1-9> (smaller, slower)");
  };
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return bad();
  std::string_view name = text.substr(0, colon), num = text.substr(colon + 1);
  int level = -1;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), level);
  if (ec != std::errc() || end != num.data() + num.size() || num.empty()) return bad();
  if (name == "isal" && level >= 0 && level <= ISAL_DEF_MAX_LEVEL)
    return Compression{.engine = DeflateEngine::kIsal, .level = level};
  if (name == "zlib" && level >= 1 && level <= 9)
    return Compression{.engine = DeflateEngine::kZlib, .level = level};
  return bad();
}

namespace {

constexpr size_t kDictSize = 32 * 1024;  // deflate's window
constexpr size_t kMinBlockSize = 64 * 1024;
constexpr int kMaxThreads = 8;

struct Block {
  std::vector<std::byte> in;  // block_size bytes; in_len of them used
  size_t in_len = 0;
  std::vector<std::byte> dict;  // the last 32 KiB before this block (empty for the first)
  std::vector<std::byte> out;   // compressed; out_len of them used
  size_t out_len = 0;
  uint32_t crc = 0;  // CRC-32 of in[0, in_len)
  bool last = false;
  bool done = false;
  std::optional<Error> error;
};

uint8_t* u8(std::byte* p) {
  return reinterpret_cast<uint8_t*>(p);
}

// Makes room for at least `more` bytes of output after out_len.
void grow(Block& b, size_t more) {
  if (b.out.size() - b.out_len < more) b.out.resize(b.out_len + more);
}

// One worker's ISA-L deflate state (its level buffer is reused for every block).
class IsalCompressor {
 public:
  explicit IsalCompressor(int level) : level_(level) {
    static constexpr size_t kLevelBuf[] = {ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT,
                                           ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT};
    level_buf_.resize(kLevelBuf[std::clamp(level, 0, 3)]);
  }

  Status compress(Block& b) {
    isal_deflate_init(&s_);
    s_.level = static_cast<uint32_t>(level_);
    s_.level_buf = level_buf_.empty() ? nullptr : level_buf_.data();
    s_.level_buf_size = static_cast<uint32_t>(level_buf_.size());
    s_.gzip_flag = IGZIP_DEFLATE;  // raw deflate: the gzip wrapper is ours
    // Every block but the last ends byte-aligned with an empty stored block (a sync flush), so
    // that the next block's deflate data can follow it directly.
    s_.flush = b.last ? NO_FLUSH : SYNC_FLUSH;
    s_.end_of_stream = b.last ? 1 : 0;
    if (!b.dict.empty()) {
      int r = isal_deflate_set_dict(&s_, u8(b.dict.data()), static_cast<uint32_t>(b.dict.size()));
      if (r != COMP_OK)
        return internal_error("gzip: isal_deflate_set_dict failed (" + std::to_string(r) + ")");
    }
    s_.next_in = u8(b.in.data());
    s_.avail_in = static_cast<uint32_t>(b.in_len);
    b.out_len = 0;
    grow(b, b.in_len + b.in_len / 8 + 1024);
    for (;;) {
      s_.next_out = u8(b.out.data() + b.out_len);
      s_.avail_out = static_cast<uint32_t>(b.out.size() - b.out_len);
      int r = isal_deflate(&s_);
      if (r != COMP_OK)
        return internal_error("gzip: isal_deflate failed (" + std::to_string(r) + ")");
      b.out_len = b.out.size() - s_.avail_out;
      bool complete = b.last ? s_.internal_state.state == ZSTATE_END
                             : s_.avail_in == 0 && s_.avail_out > 0 &&
                                   s_.internal_state.state == ZSTATE_NEW_HDR;
      if (complete) return ok();
      if (s_.avail_out == 0) grow(b, b.out.size() / 2 + 1024);
    }
  }

 private:
  int level_;
  isal_zstream s_{};
  std::vector<uint8_t> level_buf_;
};

// One worker's zlib deflate state (raw deflate, reset for each block).
class ZlibCompressor {
 public:
  explicit ZlibCompressor(int level) {
    init_ = deflateInit2(&z_, std::clamp(level, 1, 9), Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  }
  ~ZlibCompressor() {
    if (init_ == Z_OK) deflateEnd(&z_);
  }
  ZlibCompressor(const ZlibCompressor&) = delete;
  ZlibCompressor& operator=(const ZlibCompressor&) = delete;

  Status compress(Block& b) {
    if (init_ != Z_OK)
      return internal_error("gzip: deflateInit2 failed (" + std::to_string(init_) + ")");
    if (deflateReset(&z_) != Z_OK) return internal_error("gzip: deflateReset failed");
    if (!b.dict.empty() &&
        deflateSetDictionary(&z_, u8(b.dict.data()), static_cast<uInt>(b.dict.size())) != Z_OK)
      return internal_error("gzip: deflateSetDictionary failed");
    z_.next_in = u8(b.in.data());
    z_.avail_in = static_cast<uInt>(b.in_len);
    b.out_len = 0;
    grow(b, deflateBound(&z_, static_cast<uLong>(b.in_len)) + 64);
    const int flush = b.last ? Z_FINISH : Z_SYNC_FLUSH;
    for (;;) {
      z_.next_out = u8(b.out.data() + b.out_len);
      z_.avail_out = static_cast<uInt>(b.out.size() - b.out_len);
      int r = deflate(&z_, flush);
      if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
        return internal_error("gzip: deflate failed (" + std::to_string(r) + ")");
      b.out_len = b.out.size() - z_.avail_out;
      bool complete = b.last ? r == Z_STREAM_END : z_.avail_in == 0 && z_.avail_out > 0;
      if (complete) return ok();
      if (z_.avail_out == 0) grow(b, b.out.size() / 2 + 1024);
    }
  }

 private:
  z_stream z_{};
  int init_ = Z_STREAM_ERROR;
};

void put_le32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}

}  // namespace

struct ParallelGzipWriter::State {
  State(Writer& w, ParallelGzipOptions o) : inner(w), opt(o) {}

  Writer& inner;
  ParallelGzipOptions opt;

  std::mutex mu;
  std::condition_variable work_cv;  // workers: a block to compress, or closing/abort
  std::condition_variable done_cv;  // writer: the oldest block is compressed, or closing/abort
  std::condition_variable free_cv;  // caller: a block can be taken, or an error
  std::deque<Block*> work;          // submitted, not yet taken by a worker
  std::deque<Block*> order;         // submitted, not yet written (submission order)
  std::vector<Block*> free;         // written, ready for reuse
  std::vector<std::unique_ptr<Block>> all;
  size_t alive = 0;  // taken by the caller and not yet written
  size_t peak = 0;
  bool closing = false;  // the last block was submitted
  bool abort = false;    // stop now (destroyed unfinished)
  std::optional<Error> error;

  // Writer thread only.
  uint32_t crc = 0;
  uint64_t total = 0;

  // Caller only.
  Block* current = nullptr;
  std::vector<std::byte> tail;  // the last 32 KiB of the previous block
  bool finished = false;
  bool failed = false;

  std::vector<std::thread> workers;
  std::thread writer;

  void set_error(Error e) {  // mu held
    if (!error) error = std::move(e);
  }

  Result<Block*> acquire() {
    std::unique_lock lock(mu);
    free_cv.wait(lock, [&] { return error || !free.empty() || all.size() < opt.max_blocks; });
    if (error) return std::unexpected(*error);
    Block* b;
    if (!free.empty()) {
      b = free.back();
      free.pop_back();
    } else {
      all.push_back(std::make_unique<Block>());
      b = all.back().get();
      b->in.resize(opt.block_size);
    }
    peak = std::max(peak, ++alive);
    b->in_len = 0;
    b->dict = tail;
    return b;
  }

  void submit(Block* b, bool last) {
    b->last = last;
    b->done = false;
    b->error.reset();
    if (!last && b->in_len >= kDictSize)
      tail.assign(b->in.begin() + static_cast<std::ptrdiff_t>(b->in_len - kDictSize),
                  b->in.begin() + static_cast<std::ptrdiff_t>(b->in_len));
    {
      std::lock_guard lock(mu);
      work.push_back(b);
      order.push_back(b);
    }
    work_cv.notify_one();
  }

  template <class Compressor>
  void work_loop(Compressor compressor) {
    for (;;) {
      Block* b;
      {
        std::unique_lock lock(mu);
        work_cv.wait(lock, [&] { return abort || !work.empty() || closing; });
        if (abort || work.empty()) return;
        b = work.front();
        work.pop_front();
        if (error) {  // the stream failed: nothing will be written, skip the work
          b->done = true;
          done_cv.notify_all();
          continue;
        }
      }
      b->crc = crc32_gzip_refl(0, u8(b->in.data()), b->in_len);
      Status st = compressor.compress(*b);
      {
        std::lock_guard lock(mu);
        if (!st) b->error = st.error();
        b->done = true;
      }
      done_cv.notify_all();
    }
  }

  void write_loop() {
    // The gzip header: deflate, no flags, no mtime, XFL 0, OS 255 (unknown).
    static constexpr unsigned char kHeader[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    if (auto st = inner.write(std::as_bytes(std::span(kHeader))); !st) {
      std::lock_guard lock(mu);
      set_error(st.error());
      free_cv.notify_all();
    }
    for (;;) {
      Block* b;
      bool failed_before;
      {
        std::unique_lock lock(mu);
        done_cv.wait(lock, [&] {
          return abort || (!order.empty() && order.front()->done) || (closing && order.empty());
        });
        if (abort || order.empty()) return;
        b = order.front();
        order.pop_front();
        failed_before = error.has_value();
      }
      Status st = ok();
      if (b->error) {
        st = std::unexpected(*b->error);
      } else if (!failed_before) {
        st = inner.write(std::span<const std::byte>(b->out.data(), b->out_len));
        crc = crc32_combine(crc, b->crc, static_cast<z_off_t>(b->in_len));
        total += b->in_len;
      }
      {
        std::lock_guard lock(mu);
        if (!st) set_error(st.error());
        free.push_back(b);
        --alive;
      }
      free_cv.notify_all();
    }
  }

  void stop_threads(bool abort_now) {
    {
      std::lock_guard lock(mu);
      if (abort_now) abort = true;
      closing = true;
    }
    work_cv.notify_all();
    done_cv.notify_all();
    for (auto& t : workers)
      if (t.joinable()) t.join();
    if (writer.joinable()) writer.join();
  }
};

ParallelGzipWriter::ParallelGzipWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<ParallelGzipWriter>> ParallelGzipWriter::create(
    Writer& inner, ParallelGzipOptions options) {
  const Compression& c = options.compression;
  if (c.engine == DeflateEngine::kIsal && (c.level < 0 || c.level > ISAL_DEF_MAX_LEVEL))
    return invalid_argument("compression", "ISA-L levels are 0-3, not " + std::to_string(c.level));
  if (c.engine == DeflateEngine::kZlib && (c.level < 1 || c.level > 9))
    return invalid_argument("compression", "zlib levels are 1-9, not " + std::to_string(c.level));
  if (options.block_size < kMinBlockSize || options.block_size > (size_t{64} << 20))
    return invalid_argument("block_size", "must be between 64 KiB and 64 MiB");
  if (options.threads < 0) return invalid_argument("threads", "must not be negative");
  if (options.threads == 0) {
    int cores = static_cast<int>(std::thread::hardware_concurrency());
    options.threads = std::clamp(cores, 1, kMaxThreads);
  }
  if (options.max_blocks == 0) options.max_blocks = 2 * static_cast<size_t>(options.threads) + 2;
  // One being filled, one compressing, one being written: fewer would serialize the stages.
  options.max_blocks = std::max<size_t>(options.max_blocks, 2);

  auto state = std::make_unique<State>(inner, options);
  State* s = state.get();
  // From here on the destructor joins whatever was started.
  std::unique_ptr<ParallelGzipWriter> w(new ParallelGzipWriter(std::move(state)));
  for (int i = 0; i < options.threads; ++i) {
    if (c.engine == DeflateEngine::kIsal)
      s->workers.emplace_back([s, level = c.level] { s->work_loop(IsalCompressor(level)); });
    else
      s->workers.emplace_back([s, level = c.level] { s->work_loop(ZlibCompressor(level)); });
  }
  s->writer = std::thread([s] { s->write_loop(); });
  return w;
}

ParallelGzipWriter::~ParallelGzipWriter() {
  if (state_) state_->stop_threads(/*abort_now=*/true);
}

Status ParallelGzipWriter::write(std::span<const std::byte> data) {
  State& s = *state_;
  if (s.finished) return failed_precondition("gzip: write after finish()");
  if (s.failed) return failed_precondition("gzip: the stream failed earlier");
  while (!data.empty()) {
    if (!s.current) {
      auto b = s.acquire();
      if (!b) {
        s.failed = true;
        return std::unexpected(std::move(b).error());
      }
      s.current = *b;
    }
    Block& b = *s.current;
    size_t n = std::min(data.size(), s.opt.block_size - b.in_len);
    std::memcpy(b.in.data() + b.in_len, data.data(), n);
    b.in_len += n;
    data = data.subspan(n);
    if (b.in_len == s.opt.block_size) {
      s.submit(s.current, /*last=*/false);
      s.current = nullptr;
    }
  }
  return ok();
}

Status ParallelGzipWriter::finish() {
  State& s = *state_;
  if (s.finished) return failed_precondition("gzip: finish() called twice");
  if (s.failed) return failed_precondition("gzip: the stream failed earlier");
  s.failed = true;  // until it succeeded
  if (!s.current) s.current = TRY(s.acquire());
  s.submit(s.current, /*last=*/true);
  s.current = nullptr;
  s.stop_threads(/*abort_now=*/false);
  if (s.error) return std::unexpected(*s.error);
  std::byte trailer[8];
  put_le32(trailer, s.crc);
  put_le32(trailer + 4, static_cast<uint32_t>(s.total));  // ISIZE: the length modulo 2^32
  TRY(s.inner.write(trailer));
  TRY(s.inner.finish());
  s.failed = false;
  s.finished = true;
  return ok();
}

size_t ParallelGzipWriter::peak_blocks() const {
  std::lock_guard lock(state_->mu);
  return state_->peak;
}

size_t ParallelGzipWriter::max_blocks() const {
  return state_->opt.max_blocks;
}

int ParallelGzipWriter::threads() const {
  return state_->opt.threads;
}

}  // namespace flinkbr::io
