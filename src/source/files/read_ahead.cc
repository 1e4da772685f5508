#include "source/files/read_ahead.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "io/layers.h"

namespace flinkbr::source::files {

namespace {

constexpr size_t kRingSize = 4 << 20;
// The largest piece of a file read at once; a file up to this size (less one byte) is read
// with one read(2) that also sees its end.
constexpr size_t kPieceSize = 256 * 1024;
// Entries waiting for the consumer, at most (directories and empty files take no ring space).
constexpr size_t kMaxItems = 4096;
// The consumer, when it waits, is woken once this many items or bytes are ready (or the walk
// is about to wait or sleep, or has ended).
constexpr size_t kBatchItems = 64;
constexpr uint64_t kBatchBytes = 1 << 20;

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
constexpr int kReadFlags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

LiveEntry entry_of(const std::string& rel, const struct stat& st) {
  LiveEntry e;
  e.rel = rel;
  e.mode = st.st_mode & 07777;
  e.mtime = st.st_mtim.tv_sec;
  if (S_ISDIR(st.st_mode)) {
    e.kind = LiveEntry::kDir;
  } else if (S_ISREG(st.st_mode)) {
    e.kind = LiveEntry::kFile;
    e.size = static_cast<uint64_t>(st.st_size);
  } else {
    e.kind = LiveEntry::kOther;
    e.what = what_of_mode(st.st_mode);
  }
  return e;
}

// What the walking thread hands over, in order.
struct Item {
  enum Kind { kEntry, kPiece, kLog, kError, kEnd };
  Kind kind = kEnd;
  LiveEntry entry;              // kEntry
  uint64_t begin = 0, end = 0;  // kPiece: its bytes, as positions in the ring's byte sequence
  bool last = false;            // kPiece: the file ends with it
  std::string text;             // kLog: the line; the last kPiece: the file's SHA-256
  std::optional<Error> error;   // kError
};

std::unexpected<Error> stopped() {
  return make_error(Errc::kCancelled, "the walk was stopped");
}

}  // namespace

const char* what_of_mode(mode_t m) {
  return S_ISLNK(m)    ? "symbolic link"
         : S_ISSOCK(m) ? "socket"
         : S_ISFIFO(m) ? "FIFO"
         : S_ISCHR(m)  ? "character device"
         : S_ISBLK(m)  ? "block device"
                       : "special file";
}

struct TreeReadAhead::State {
  explicit State(ReadAheadOptions o) : opt(std::move(o)) {}
  ~State() {
    if (ring) ::munmap(ring, kRingSize);
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  // The ring is mapped for each walk and unmapped after it, not taken from malloc: freed, a
  // block this big raises glibc's mmap threshold and stays in the heap, and the daemon's
  // resident size grew by it from one backup to the next.
  Status map_ring() {
    void* p =
        ::mmap(nullptr, kRingSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return errno_error("mapping the read-ahead buffer", errno);
    ring = static_cast<std::byte*>(p);
    return ok();
  }

  ReadAheadOptions opt;
  std::byte* ring = nullptr;  // kRingSize bytes

  std::mutex mu;
  std::condition_variable items_cv;  // consumer: an item arrived
  std::condition_variable space_cv;  // producer: ring space or an item slot was freed, or stop
  std::deque<Item> items;
  uint64_t tail = 0;  // ring bytes before this are free (the consumer is done with them)
  bool stop = false;
  bool consumer_waiting = false;
  uint64_t producer_need = 0;  // the walk waits until tail + kRingSize reaches it (0: no wait)
  std::thread thread;

  // ---- the walking thread ----
  uint64_t head = 0;  // ring bytes before this are written
  std::vector<char> dents = std::vector<char>(64 * 1024);

  std::string abs(const std::string& rel) const {
    return rel.empty() ? opt.root : opt.root + "/" + rel;
  }

  // Items and bytes handed over since the consumer was last woken. The consumer is woken for a
  // batch, not for each item: woken per item, it slept and woke twice per file (90,000 futex
  // calls for 20,050 files, as many context switches).
  size_t unannounced_items = 0;
  uint64_t unannounced_bytes = 0;

  // Wakes the consumer if it waits (mu held).
  void announce() {
    if (consumer_waiting && !items.empty()) items_cv.notify_one();
    unannounced_items = 0;
    unannounced_bytes = 0;
  }
  // Wakes the consumer before this thread blocks or sleeps, so that it works meanwhile.
  void announce_now() {
    std::lock_guard lock(mu);
    announce();
  }

  Status push(Item item) {
    std::unique_lock lock(mu);
    if (items.size() >= kMaxItems) {
      announce();
      space_cv.wait(lock, [&] { return stop || items.size() < kMaxItems; });
    }
    if (stop) return stopped();
    bool final = item.kind == Item::kEnd || item.kind == Item::kError;
    unannounced_bytes += item.end - item.begin;
    items.push_back(std::move(item));
    if (final || ++unannounced_items >= kBatchItems || unannounced_bytes >= kBatchBytes) announce();
    return ok();
  }

  // Room for `n` contiguous bytes in the ring: returns where they start (a ring position).
  Result<uint64_t> reserve(size_t n) {
    uint64_t start = head;
    size_t at = static_cast<size_t>(start % kRingSize);
    if (at + n > kRingSize) start += kRingSize - at;  // skip the ring's end: pieces never wrap
    std::unique_lock lock(mu);
    if (start + n - tail > kRingSize) {
      announce();
      producer_need = start + n;
      space_cv.wait(lock, [&] { return stop || start + n - tail <= kRingSize; });
      producer_need = 0;
    }
    if (stop) return stopped();
    return start;
  }
  std::byte* at(uint64_t pos) const { return ring + pos % kRingSize; }

  Status vanished(const std::string& rel) {
    Item it{.kind = Item::kLog};
    it.text = opt.log_prefix + abs(rel) + " disappeared while being read; skipped";
    return push(std::move(it));
  }

  Status emit(LiveEntry e) {
    Item it{.kind = Item::kEntry};
    it.entry = std::move(e);
    return push(std::move(it));
  }

  void run() {
    Status st = walk_root();
    Item it{.kind = st ? Item::kEnd : Item::kError};
    if (!st) it.error = st.error();
    (void)push(std::move(it));  // fails only when stopped: nobody is listening then
  }

  Status walk_root() {
    Fd dir(::open(opt.root.c_str(), kDirFlags));
    if (!dir) {
      if (errno == ELOOP) return failed_precondition(opt.root + " is a symbolic link");
      return errno_error("opening " + opt.root, errno);
    }
    return directory(std::move(dir), "");
  }

  // An opened directory: its own attributes (what a listing or lstat saw may have been
  // replaced since), then what it holds.
  Status directory(Fd dir, const std::string& rel) {
    struct stat st;
    if (::fstat(dir.get(), &st) != 0) return errno_error(abs(rel), errno);
    TRY(emit(entry_of(rel, st)));
    return walk_dir(dir.get(), rel);
  }

  // Names and entry types of a directory, sorted byte-wise (tree order). getdents64 on the
  // descriptor itself: the descriptor is fresh, and openat() does not care where its listing
  // position is.
  Result<std::vector<std::pair<std::string, unsigned char>>> list(int dirfd,
                                                                  const std::string& rel) {
    std::vector<std::pair<std::string, unsigned char>> names;
    for (;;) {
      ssize_t n = ::getdents64(dirfd, dents.data(), dents.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_error("listing " + abs(rel), errno);
      }
      if (n == 0) break;
      for (ssize_t off = 0; off < n;) {
        const auto* d = reinterpret_cast<const struct dirent64*>(dents.data() + off);
        off += d->d_reclen;
        std::string_view name = d->d_name;
        if (name != "." && name != "..") names.emplace_back(name, d->d_type);
      }
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  Status walk_dir(int dirfd, const std::string& dir_rel) {
    auto names = TRY(list(dirfd, dir_rel));
    for (const auto& [name, type] : names) {
      if (opt.ctx && opt.ctx->is_cancelled()) return make_error(Errc::kCancelled, "cancelled");
      std::string rel = dir_rel.empty() ? name : dir_rel + "/" + name;
      TRY(child(dirfd, rel, name, type));
    }
    return ok();
  }

  // One entry of a listing, by the type the listing gave: a regular file is opened at once and
  // described by its descriptor, a directory too; anything else is only named.
  Status child(int dirfd, const std::string& rel, const std::string& name, unsigned char type) {
    if (type == DT_REG) {
      if (opt.pinned.contains(rel))
        return emit(LiveEntry{.kind = LiveEntry::kFile, .rel = rel, .pinned = true});
      Fd f(::openat(dirfd, name.c_str(), kReadFlags));
      if (f) {
        struct stat st;
        if (::fstat(f.get(), &st) != 0) return errno_error(abs(rel), errno);
        if (S_ISREG(st.st_mode)) return file(std::move(f), rel, st);
      } else if (errno == ENOENT) {
        return vanished(rel);
      }
    } else if (type == DT_DIR) {
      Fd sub(::openat(dirfd, name.c_str(), kDirFlags));
      if (sub) return directory(std::move(sub), rel);
      if (errno == ENOENT) return vanished(rel);
    } else if (type != DT_UNKNOWN) {
      return emit(
          LiveEntry{.kind = LiveEntry::kOther, .rel = rel, .what = what_of_mode(DTTOIF(type))});
    }
    // No type, or it changed since the listing, or it could not be opened: lstat decides, and
    // an error is reported as it comes.
    return by_lstat(dirfd, rel, name);
  }

  Status by_lstat(int dirfd, const std::string& rel, const std::string& name) {
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return vanished(rel);
      return errno_error(abs(rel), errno);
    }
    if (S_ISDIR(st.st_mode)) {
      Fd sub(::openat(dirfd, name.c_str(), kDirFlags));
      if (!sub) {
        if (errno == ENOENT) return vanished(rel);
        return errno_error("opening " + abs(rel), errno);
      }
      return directory(std::move(sub), rel);
    }
    if (!S_ISREG(st.st_mode)) return emit(entry_of(rel, st));
    if (opt.pinned.contains(rel))
      return emit(LiveEntry{.kind = LiveEntry::kFile, .rel = rel, .pinned = true});
    Fd f(::openat(dirfd, name.c_str(), kReadFlags));
    if (!f) {
      if (errno == ENOENT) return vanished(rel);
      return errno_error("opening " + abs(rel), errno);
    }
    if (::fstat(f.get(), &st) != 0) return errno_error(abs(rel), errno);
    if (!S_ISREG(st.st_mode))
      return make_error(Errc::kIOError, abs(rel) + " changed type while being read", {}, true);
    return file(std::move(f), rel, st);
  }

  // A file modified in the last second may still be being written (Flink's HA storage gets a
  // new checkpoint file every few milliseconds, written before its pointer): wait, up to
  // half a second, until its size and mtime stay the same for 20 ms, so that the read does
  // not fail the backup for a file that was only being created.
  Status wait_until_written(int fd, const std::string& rel, struct stat& st) {
    for (int i = 0; i < 25; ++i) {
      struct timespec now;
      ::clock_gettime(CLOCK_REALTIME, &now);
      if (now.tv_sec - st.st_mtim.tv_sec > 1) return ok();
      announce_now();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      struct stat again;
      if (::fstat(fd, &again) != 0) return errno_error(abs(rel), errno);
      bool same = again.st_size == st.st_size && again.st_mtim.tv_sec == st.st_mtim.tv_sec &&
                  again.st_mtim.tv_nsec == st.st_mtim.tv_nsec;
      st = again;
      if (same) return ok();
    }
    return ok();  // still changing: the read says so
  }

  std::unexpected<Error> changed(const std::string& rel, std::string_view how) const {
    return make_error(
        Errc::kIOError,
        abs(rel) + " " + std::string(how) + " while being read (it changed during the backup)", {},
        /*retryable=*/true);
  }

  // Reads an open regular file into the ring, piece by piece, hashing as it goes. Each read
  // asks for one byte more than the file has left, so that the read that completes it also
  // shows that it ends there (a short read of a regular file is its end; a file that grows
  // after it is caught by the fstat after the read).
  Status file(Fd f, const std::string& rel, struct stat st) {
    TRY(wait_until_written(f.get(), rel, st));
    LiveEntry e = entry_of(rel, st);
    const uint64_t size = e.size;
    TRY(emit(std::move(e)));
    io::Sha256 hash;
    uint64_t left = size;
    std::optional<Item> pending;  // the last piece read, handed over once the next is known
    for (bool complete = false; !complete;) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(left + 1, kPieceSize));
      uint64_t start = TRY(reserve(want));
      ssize_t n;
      do n = ::read(f.get(), at(start), want);
      while (n < 0 && errno == EINTR);
      if (n < 0) return errno_error("reading " + abs(rel), errno);
      size_t got = static_cast<size_t>(n);
      if (got > left) return changed(rel, "grew");
      if (got == 0 && left > 0) return changed(rel, "shrank");
      left -= got;
      complete = left == 0 && got < want;
      if (got == 0) continue;
      hash.update({at(start), got});
      head = start + got;
      if (pending) TRY(push(std::move(*pending)));
      pending = Item{.kind = Item::kPiece, .begin = start, .end = head};
    }
    struct stat after;
    if (::fstat(f.get(), &after) != 0) return errno_error(abs(rel), errno);
    if (after.st_size != st.st_size || after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
        after.st_mtim.tv_nsec != st.st_mtim.tv_nsec)
      return make_error(Errc::kIOError,
                        abs(rel) + " changed while being read (it changed during the backup)", {},
                        true);
    if (!pending) pending = Item{.kind = Item::kPiece, .begin = head, .end = head};
    pending->last = true;
    pending->text = hash.hex_digest();
    return push(std::move(*pending));
  }

  // ---- the consumer ----
  std::optional<Error> failed;  // sticky
  bool in_file = false;         // data() is the current file's, not read to its end
  bool file_done = false;       // its last piece arrived
  uint64_t pos = 0, end = 0;    // the unread bytes of the current piece
  uint64_t held = 0;            // ring bytes before this may be released
  std::string digest;

  // The next item; first releases the ring bytes the consumer is done with (before waiting:
  // the walk may be waiting for them).
  Item pop() {
    std::unique_lock lock(mu);
    tail = std::max(tail, held);
    if (producer_need != 0 && producer_need - tail <= kRingSize) space_cv.notify_one();
    if (items.empty()) {
      consumer_waiting = true;
      items_cv.wait(lock, [&] { return !items.empty(); });
      consumer_waiting = false;
    }
    Item it = std::move(items.front());
    items.pop_front();
    if (items.size() + 1 == kMaxItems) space_cv.notify_one();
    return it;
  }

  Result<std::span<const std::byte>> view(size_t max) {
    if (failed) return std::unexpected(*failed);
    if (!in_file) return failed_precondition("no file's data is being read");
    while (pos == end) {
      if (file_done) return std::span<const std::byte>();
      held = end;  // done with the piece: released by the next pop
      Item it = pop();
      if (it.kind == Item::kError) {
        failed = it.error;
        return std::unexpected(*failed);
      }
      if (it.kind != Item::kPiece) {
        failed = internal_error("read-ahead: a file's data ended without its last piece").error();
        return std::unexpected(*failed);
      }
      pos = it.begin;
      end = it.end;
      if (it.last) {
        file_done = true;
        digest = std::move(it.text);
      }
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(max, end - pos));
    std::span<const std::byte> v(at(pos), n);
    pos += n;
    return v;
  }

  Result<LiveEntry> next() {
    if (failed) return std::unexpected(*failed);
    if (in_file)  // the rest of the previous file's data, unread
      while (!TRY(view(kPieceSize)).empty()) {
      }
    in_file = false;
    held = end;
    for (;;) {
      Item it = pop();
      switch (it.kind) {
        case Item::kLog:
          if (opt.ctx) opt.ctx->log(it.text);
          continue;
        case Item::kError:
          failed = it.error;
          return std::unexpected(*failed);
        case Item::kEnd:
          return LiveEntry{};
        case Item::kPiece:
          failed = internal_error("read-ahead: file data without its entry").error();
          return std::unexpected(*failed);
        case Item::kEntry:
          if (it.entry.kind == LiveEntry::kFile && !it.entry.pinned) {
            in_file = true;
            file_done = false;
            digest.clear();
          }
          return std::move(it.entry);
      }
    }
  }

  void stop_thread() {
    {
      std::lock_guard lock(mu);
      stop = true;
    }
    space_cv.notify_all();
    if (thread.joinable()) thread.join();
  }
};

namespace {

// The current file's data, for the archive writer.
class DataReader final : public io::Reader {
 public:
  explicit DataReader(TreeReadAhead::State& s) : s_(s) {}
  Result<size_t> read(std::span<std::byte> out) override {
    auto v = TRY(s_.view(out.size()));
    if (!v.empty()) std::memcpy(out.data(), v.data(), v.size());  // data() may be null when empty
    return v.size();
  }
  bool hashes_sha256() const override { return true; }
  std::string sha256_at_end() const override { return s_.file_done ? s_.digest : std::string(); }
  bool lends() const override { return true; }
  Result<std::span<const std::byte>> view(size_t max) override { return s_.view(max); }

 private:
  TreeReadAhead::State& s_;
};

}  // namespace

TreeReadAhead::TreeReadAhead(std::unique_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<TreeReadAhead>> TreeReadAhead::start(ReadAheadOptions options) {
  auto state = std::make_unique<State>(std::move(options));
  TRY(state->map_ring());
  State* s = state.get();
  std::unique_ptr<TreeReadAhead> r(new TreeReadAhead(std::move(state)));
  s->thread = std::thread([s] { s->run(); });
  return r;
}

TreeReadAhead::~TreeReadAhead() {
  if (state_) state_->stop_thread();
}

Result<LiveEntry> TreeReadAhead::next() {
  return state_->next();
}

io::Reader& TreeReadAhead::data() {
  if (!reader_) reader_ = std::make_unique<DataReader>(*state_);
  return *reader_;
}

}  // namespace flinkbr::source::files
