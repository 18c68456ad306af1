// File: engine/base/text.h
// Checks for identifiers (valid UTF-8, no control characters) and JSON
// string quoting.
#ifndef LOYALTY_ENGINE_BASE_TEXT_H_
#define LOYALTY_ENGINE_BASE_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace loyalty {

// True if `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(absl::string_view s);
// True if `s` is valid UTF-8 without C0/C1 control characters or DEL.
bool IsCleanText(absl::string_view s);
// `s` with every byte that is not part of a well-formed UTF-8 sequence
// replaced by U+FFFD (the Unicode replacement character): valid UTF-8
// whatever `s` holds, and `s` itself when it is valid.
std::string ToValidUtf8(absl::string_view s);
// The longest prefix of `s` of at most `max_bytes` that does not end inside
// a UTF-8 sequence (for cutting text without splitting a character).
absl::string_view Utf8Prefix(absl::string_view s, size_t max_bytes);

// `s` as a JSON string literal: quotes, backslash-escaped '"' and '\\',
// \n \r \t, and \u00XX for the other control characters and DEL; other
// bytes (UTF-8 or not) as they are.
std::string JsonString(absl::string_view s);

// `s` for HTML text and attribute values: & < > " ' as entities; other bytes
// as they are.
std::string HtmlEscape(absl::string_view s);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_BASE_TEXT_H_
