// Internal to the archive module. libarchive converts entry paths between the current locale's
// character set and the UTF-8 of pax headers; in the "C" locale (every process that never calls
// setlocale) a non-ASCII path fails that conversion (libarchive 3.6 even crashes on a path set
// with archive_entry_set_pathname_utf8). Payload paths are UTF-8 (validate_entry_path), so the
// writer and reader switch the calling thread to C.UTF-8 for LC_CTYPE while they run
// libarchive, and back afterwards. The process-wide locale is left alone.
#pragma once

#include <locale.h>

namespace flinkbr::archive {

class Utf8LocaleScope {
 public:
  Utf8LocaleScope() {
    static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", locale_t{});
    if (utf8) previous_ = uselocale(utf8);
  }
  ~Utf8LocaleScope() {
    if (previous_) uselocale(previous_);
  }
  Utf8LocaleScope(const Utf8LocaleScope&) = delete;
  Utf8LocaleScope& operator=(const Utf8LocaleScope&) = delete;

 private:
  locale_t previous_{};
};

}  // namespace flinkbr::archive
