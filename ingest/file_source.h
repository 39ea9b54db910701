// FileSource: reads a log file (plain, .gz, .zst, or "-" for stdin) as chunks
// of whole lines, with their byte offsets, for the parallel parser.
//
// A chunk never ends inside a line, nor before a continuation line (see
// IsContinuationLine), so multi-line records stay in one chunk. Offsets are
// positions in the decompressed stream. Compression is detected from the
// magic bytes, not the file name.
//
// Thread-safety: one thread reads a FileSource; chunks it returns are owned by
// the caller and may go to other threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace faultline::ingest {

struct Chunk {
  // The bytes, followed by kInputPadding spare bytes (data.size() includes
  // neither; capacity does). Use view() for the lines.
  std::unique_ptr<char[]> data;
  size_t size = 0;
  uint64_t offset = 0;  // offset of data[0] in the decompressed stream
  std::string_view view() const { return std::string_view(data.get(), size); }
};

// Identity of a file's content, so a renamed or re-listed file is recognised.
struct FileIdentity {
  std::string fingerprint;  // hex hash of the first up-to-64 KiB of raw bytes
  uint64_t raw_size = 0;    // size on disk (0 for stdin)
  bool compressed = false;
};

struct FileSourceOptions {
  // Target chunk size. 4 MiB keeps workers busy and memory bounded.
  size_t chunk_bytes = 4 << 20;
  // A single line longer than this is passed on alone, cut to this size plus
  // one byte, so that the parser can reject it as too long without holding
  // the whole line in memory. Keep equal to ParserOptions::max_line_bytes.
  size_t max_line_bytes = 1 << 20;
};

class FileSource {
 public:
  // Opens `path` ("-" is stdin). Fails with kNotFound / kIOError and a message
  // naming the file.
  static Result<std::unique_ptr<FileSource>> Open(const std::string& path,
                                                  const FileSourceOptions& options);
  virtual ~FileSource() = default;

  virtual const FileIdentity& identity() const = 0;
  // Skips the first `offset` decompressed bytes (resume after a partial
  // ingest). REQUIRES: before the first Next().
  virtual Status SkipTo(uint64_t offset) = 0;
  // Next chunk, or a chunk with size 0 at end of input. Errors (I/O, corrupt
  // compressed stream) are returned as a Status naming the file and offset.
  virtual Result<Chunk> Next() = 0;
  // Raw bytes read so far (for progress against identity().raw_size).
  virtual uint64_t raw_bytes_read() const = 0;
};

}  // namespace faultline::ingest
