// Byte-to-text encodings shared by the storage clients, the CLI, the configuration and the
// sources, so that each escapes the same way.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace flinkbr {

// Percent-encodes every byte except RFC 3986's unreserved characters (ASCII letters, digits,
// '-', '.', '_', '~') and those in `also_keep`; upper-case hex digits ("%2F"). ASCII ranges,
// not <cctype>, so that the locale never changes the result.
std::string percent_encode(std::string_view s, std::string_view also_keep = {});

// Decodes every %XX escape (either hex case) to its byte; other bytes pass through unchanged.
// nullopt when a '%' is not followed by two hex digits. The result is bytes: whether they are
// UTF-8 is the caller's question.
std::optional<std::string> percent_decode(std::string_view s);

// Lower-case hex of bytes ("\x01\xab" -> "01ab").
std::string hex_lower(std::string_view bytes);

}  // namespace flinkbr
