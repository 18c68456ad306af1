// File: connectors/file/jsonl.h
// Reads JSON Lines input with line numbers, in bounded memory.
//
//   LOYALTY_ASSIGN_OR_RETURN(auto reader, JsonlReader::Open("events.jsonl"));
//   JsonlReader::Line line;
//   while (reader->Next(&line)) use(line.number, line.text);
//   LOYALTY_RETURN_IF_ERROR(reader->status());
//
// Blank lines are skipped (their numbers still count). A line longer than
// kLineBytesMax is cut to kLineBytesMax + 1 bytes: too long to be an event
// either way, and it still reaches validation as OVERSIZED; the Line says
// so (`truncated`) and gives the whole line's size and SHA-256.
#ifndef LOYALTY_CONNECTORS_FILE_JSONL_H_
#define LOYALTY_CONNECTORS_FILE_JSONL_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace loyalty {

class JsonlReader {
 public:
  struct Line {
    int64_t number = 0;  // 1-based
    std::string text;    // without the line break (\n or \r\n)
    // The file offset just past this line's line break (or the end of the
    // file): the bytes [0, end_byte) hold this line and all before it.
    int64_t end_byte = 0;
    // The whole line's size without its line break; more than text.size()
    // when the line was cut (truncated).
    int64_t bytes = 0;
    bool truncated = false;
    std::string sha256_hex;  // of the whole line, when truncated
  };

  // Default: 1 MiB, the largest accepted record.
  static constexpr size_t kLineBytesMax = 1 << 20;

  static absl::StatusOr<std::unique_ptr<JsonlReader>> Open(const std::string& path);
  ~JsonlReader();

  // False at the end of the file or on an error (see status()).
  bool Next(Line* line);
  absl::Status status() const { return status_; }
  // Bytes consumed so far and the file size (for progress).
  int64_t bytes_read() const { return bytes_read_; }
  int64_t file_bytes() const { return file_bytes_; }

 private:
  JsonlReader() = default;

  std::string path_;
  FILE* file_ = nullptr;
  int64_t line_number_ = 0;
  int64_t bytes_read_ = 0;
  int64_t file_bytes_ = 0;
  absl::Status status_;
};

}  // namespace loyalty

#endif  // LOYALTY_CONNECTORS_FILE_JSONL_H_
