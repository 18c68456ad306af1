#include "connectors/file/jsonl.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

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
    int c;
    bool any = false;
    while ((c = getc_unlocked(file_)) != EOF) {
      any = true;
      bytes_read_++;
      if (c == '\n') break;
      if (line->text.size() <= kLineBytesMax) line->text.push_back(static_cast<char>(c));
    }
    if (!any) {
      if (std::ferror(file_)) {
        status_ =
            absl::UnavailableError(absl::StrCat(path_, ": read error after line ", line_number_));
      }
      return false;
    }
    line_number_++;
    if (!line->text.empty() && line->text.back() == '\r') line->text.pop_back();
    line->end_byte = bytes_read_;
    bool blank = line->text.find_first_not_of(" \t") == std::string::npos;
    if (blank) continue;
    line->number = line_number_;
    return true;
  }
}

}  // namespace loyalty
