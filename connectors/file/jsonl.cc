#include "connectors/file/jsonl.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "engine/base/crypto.h"

namespace loyalty {

absl::StatusOr<std::unique_ptr<JsonlReader>> JsonlReader::Open(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  auto reader = std::unique_ptr<JsonlReader>(new JsonlReader());
  reader->path_ = path;
  reader->file_ = f;
  struct stat st;
  if (fstat(fileno(f), &st) == 0) reader->file_bytes_ = st.st_size;
  return reader;
}

JsonlReader::~JsonlReader() {
  if (file_ != nullptr) std::fclose(file_);
}

bool JsonlReader::Next(Line* line) {
  for (;;) {
    line->text.clear();
    line->truncated = false;
    line->sha256_hex.clear();
    // Bytes past the cut, hashed in chunks; the last one is held back in
    // case it is the \r of a \r\n.
    std::string overflow;
    std::optional<Sha256Stream> whole;
    int64_t bytes = 0;
    int c;
    bool any = false;
    while ((c = getc_unlocked(file_)) != EOF) {
      any = true;
      bytes_read_++;
      if (c == '\n') break;
      bytes++;
      if (line->text.size() <= kLineBytesMax) {
        line->text.push_back(static_cast<char>(c));
        continue;
      }
      if (!whole.has_value()) whole.emplace().Update(line->text);
      overflow.push_back(static_cast<char>(c));
      if (overflow.size() > (64 << 10)) {
        whole->Update(absl::string_view(overflow).substr(0, overflow.size() - 1));
        overflow.erase(0, overflow.size() - 1);
      }
    }
    if (!any) {
      if (std::ferror(file_)) {
        status_ =
            absl::UnavailableError(absl::StrCat(path_, ": read error after line ", line_number_));
      }
      return false;
    }
    line_number_++;
    // A \r before the \n belongs to the line break.
    if (!overflow.empty() && overflow.back() == '\r') {
      overflow.pop_back();
      bytes--;
    } else if (overflow.empty() && !line->text.empty() && line->text.back() == '\r') {
      line->text.pop_back();
      bytes--;
    }
    if (whole.has_value()) {
      whole->Update(overflow);
      line->truncated = true;
      line->sha256_hex = HexDigest(whole->Digest());
    }
    line->bytes = bytes;
    line->end_byte = bytes_read_;
    bool blank = line->text.find_first_not_of(" \t") == std::string::npos;
    if (blank) continue;
    line->number = line_number_;
    return true;
  }
}

}  // namespace loyalty
