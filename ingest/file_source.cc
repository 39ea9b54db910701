#include "ingest/file_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include <zlib.h>
#include <zstd.h>

#include "ingest/parser.h"

namespace faultline::ingest {
namespace {

// Reads from the file are this large: fewer syscalls, and the decompressors
// get big enough inputs to run at full speed.
constexpr size_t kRawReadBytes = 1 << 20;
// The identity hashes this prefix of the raw bytes.
constexpr size_t kFingerprintBytes = 64 << 10;

std::string Errno(int err) { return std::strerror(err); }

// FNV-1a over 8-byte words with a final avalanche (splitmix64's finalizer).
// Word-at-a-time keeps hashing 64 KiB cheap; the finalizer spreads the bits so
// that similar prefixes give unrelated fingerprints. Stable across platforms
// of the same endianness, which is all the store needs.
uint64_t Fingerprint64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  constexpr uint64_t kPrime = 0x100000001b3ULL;
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    h = (h ^ word) * kPrime;
    h ^= h >> 29;
  }
  for (; i < bytes.size(); ++i) {
    h = (h ^ static_cast<unsigned char>(bytes[i])) * kPrime;
  }
  h ^= bytes.size();
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

std::string Hex64(uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kDigits[v & 0xf];
    v >>= 4;
  }
  return out;
}

// Owns a file descriptor; reads the raw (possibly compressed) bytes. The
// first up-to-64 KiB are read at open (for the magic and the fingerprint) and
// served again before the rest of the file, so stdin works the same as a file.
class RawFile {
 public:
  RawFile(std::string name, int fd, bool owns_fd)
      : name_(std::move(name)), fd_(fd), owns_fd_(owns_fd) {}
  ~RawFile() {
    if (owns_fd_ && fd_ >= 0) ::close(fd_);
  }
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;

  const std::string& name() const { return name_; }
  // Raw bytes handed out by Read (or skipped), the head included.
  uint64_t bytes_read() const { return consumed_; }
  std::string_view head() const { return head_; }

  Status ReadHead() {
    head_.resize(kFingerprintBytes);
    size_t got = 0;
    while (got < head_.size()) {
      FL_ASSIGN_OR_RETURN(size_t n, ReadFd(head_.data() + got, head_.size() - got));
      fd_bytes_ += n;
      if (n == 0) break;
      got += n;
    }
    head_.resize(got);
    return Status::Ok();
  }

  // Up to `n` bytes into `dst`; 0 at end of file.
  Result<size_t> Read(char* dst, size_t n) {
    if (head_pos_ < head_.size()) {
      const size_t take = std::min(n, head_.size() - head_pos_);
      std::memcpy(dst, head_.data() + head_pos_, take);
      head_pos_ += take;
      consumed_ += take;
      return take;
    }
    FL_ASSIGN_OR_RETURN(size_t got, ReadFd(dst, n));
    fd_bytes_ += got;
    consumed_ += got;
    return got;
  }

  // Seeks past `n` raw bytes if the fd can seek; false if it can't.
  bool TrySeekForward(uint64_t n) {
    if (head_pos_ + n <= head_.size()) {
      head_pos_ += static_cast<size_t>(n);
      consumed_ += n;
      return true;
    }
    const uint64_t past_head = n - (head_.size() - head_pos_);
    if (::lseek(fd_, static_cast<off_t>(past_head), SEEK_CUR) < 0) return false;
    head_pos_ = head_.size();
    consumed_ += n;
    fd_bytes_ += past_head;
    return true;
  }

 private:
  Result<size_t> ReadFd(char* dst, size_t n) {
    for (;;) {
      const ssize_t r = ::read(fd_, dst, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno == EINTR) continue;
      return Status::IOError("cannot read " + name_ + " at raw offset " +
                             std::to_string(fd_bytes_) + ": " + Errno(errno));
    }
  }

  std::string name_;
  int fd_;
  bool owns_fd_;
  std::string head_;
  size_t head_pos_ = 0;
  uint64_t consumed_ = 0;
  uint64_t fd_bytes_ = 0;  // position of the fd
};

// Produces the decompressed stream.
class Decoder {
 public:
  virtual ~Decoder() = default;
  // Up to `n` decompressed bytes into `dst`; 0 only at the end of the stream.
  // `stream_offset` (decompressed bytes produced so far) is for messages.
  virtual Result<size_t> Read(char* dst, size_t n, uint64_t stream_offset) = 0;
};

class PlainDecoder final : public Decoder {
 public:
  explicit PlainDecoder(RawFile* file) : file_(file) {}
  Result<size_t> Read(char* dst, size_t n, uint64_t) override {
    return file_->Read(dst, n);
  }

 private:
  RawFile* file_;
};

// Buffered compressed input shared by the gzip and zstd decoders.
class RawInput {
 public:
  explicit RawInput(RawFile* file)
      : file_(file), buf_(std::make_unique_for_overwrite<char[]>(kRawReadBytes)) {}

  // Refills when empty; sets eof() when the file has no more bytes.
  Status Refill() {
    if (pos_ < len_ || eof_) return Status::Ok();
    FL_ASSIGN_OR_RETURN(size_t n, file_->Read(buf_.get(), kRawReadBytes));
    pos_ = 0;
    len_ = n;
    if (n == 0) eof_ = true;
    return Status::Ok();
  }
  bool eof() const { return eof_ && pos_ == len_; }
  const unsigned char* data() const {
    return reinterpret_cast<const unsigned char*>(buf_.get()) + pos_;
  }
  size_t available() const { return len_ - pos_; }
  void Consume(size_t n) { pos_ += n; }
  // Raw offset of data()[0] in the file.
  uint64_t offset() const { return file_->bytes_read() - (len_ - pos_); }
  const std::string& name() const { return file_->name(); }

 private:
  RawFile* file_;
  std::unique_ptr<char[]> buf_;
  size_t pos_ = 0;
  size_t len_ = 0;
  bool eof_ = false;
};

Status CorruptAt(std::string_view format, const RawInput& in, uint64_t stream_offset,
                 std::string_view detail) {
  return Status::Corruption("corrupt " + std::string(format) + " data in " + in.name() +
                            " at raw offset " + std::to_string(in.offset()) +
                            " (decompressed offset " + std::to_string(stream_offset) +
                            "): " + std::string(detail));
}

// Gzip with any number of members, as `cat a.gz b.gz` and pigz produce.
// Trailing zero bytes (tape padding) are ignored, as gzip(1) does.
class GzipDecoder final : public Decoder {
 public:
  explicit GzipDecoder(RawFile* file) : in_(file) {}
  ~GzipDecoder() override {
    if (initialized_) inflateEnd(&zs_);
  }

  Status Init() {
    std::memset(&zs_, 0, sizeof(zs_));
    // 16 + MAX_WBITS: gzip wrapper only; the magic was already checked.
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) {
      return Status::ResourceExhausted("inflateInit2 failed for " + in_.name());
    }
    initialized_ = true;
    return Status::Ok();
  }

  Result<size_t> Read(char* dst, size_t n, uint64_t stream_offset) override {
    size_t produced = 0;
    while (produced < n && !done_) {
      FL_RETURN_IF_ERROR(in_.Refill());
      if (member_ended_) {
        if (in_.eof()) {
          done_ = true;
          break;
        }
        if (in_.data()[0] == 0) {
          // Padding: skip it all, but anything else after it is garbage.
          size_t zeros = 0;
          while (zeros < in_.available() && in_.data()[zeros] == 0) ++zeros;
          in_.Consume(zeros);
          trailing_zeros_ = true;
          continue;
        }
        if (trailing_zeros_ || in_.data()[0] != 0x1f) {
          return CorruptAt("gzip", in_, stream_offset + produced,
                           "trailing garbage after gzip member");
        }
        if (inflateReset(&zs_) != Z_OK) {
          return CorruptAt("gzip", in_, stream_offset + produced, "inflateReset failed");
        }
        member_ended_ = false;
      }
      zs_.next_in = const_cast<Bytef*>(in_.data());
      // Raw reads are 1 MiB, so the casts to uInt cannot truncate.
      zs_.avail_in = static_cast<uInt>(in_.available());
      zs_.next_out = reinterpret_cast<Bytef*>(dst + produced);
      const size_t want = std::min<size_t>(n - produced, 1u << 30);
      zs_.avail_out = static_cast<uInt>(want);
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      const size_t consumed = in_.available() - zs_.avail_in;
      const size_t out = want - zs_.avail_out;
      in_.Consume(consumed);
      produced += out;
      if (rc == Z_STREAM_END) {
        member_ended_ = true;
      } else if (rc == Z_OK || rc == Z_BUF_ERROR) {
        // Even with all input consumed, inflate may still hold output; only
        // a call that makes no progress at end of file means truncation.
        if (consumed == 0 && out == 0 && in_.eof()) {
          return CorruptAt("gzip", in_, stream_offset + produced,
                           "unexpected end of file (truncated gzip stream)");
        }
      } else {
        return CorruptAt("gzip", in_, stream_offset + produced,
                         zs_.msg != nullptr ? zs_.msg : "inflate error " + std::to_string(rc));
      }
    }
    return produced;
  }

 private:
  RawInput in_;
  z_stream zs_;
  bool initialized_ = false;
  bool member_ended_ = false;
  bool trailing_zeros_ = false;
  bool done_ = false;
};

// Zstd with any number of frames (including skippable ones).
class ZstdDecoder final : public Decoder {
 public:
  explicit ZstdDecoder(RawFile* file) : in_(file), dctx_(ZSTD_createDCtx()) {}
  ~ZstdDecoder() override { ZSTD_freeDCtx(dctx_); }

  Status Init() {
    if (dctx_ == nullptr) {
      return Status::ResourceExhausted("ZSTD_createDCtx failed for " + in_.name());
    }
    return Status::Ok();
  }

  Result<size_t> Read(char* dst, size_t n, uint64_t stream_offset) override {
    size_t produced = 0;
    while (produced < n) {
      FL_RETURN_IF_ERROR(in_.Refill());
      if (in_.eof() && frame_complete_) break;
      ZSTD_inBuffer input{in_.data(), in_.available(), 0};
      ZSTD_outBuffer output{dst + produced, n - produced, 0};
      const size_t rc = ZSTD_decompressStream(dctx_, &output, &input);
      in_.Consume(input.pos);
      produced += output.pos;
      if (ZSTD_isError(rc)) {
        return CorruptAt("zstd", in_, stream_offset + produced, ZSTD_getErrorName(rc));
      }
      // At end of file the decoder may still flush buffered output; a call
      // that makes no progress there means the last frame is cut short.
      if (in_.eof() && input.pos == 0 && output.pos == 0 && rc != 0) {
        return CorruptAt("zstd", in_, stream_offset + produced,
                         "unexpected end of file (truncated zstd frame)");
      }
      // 0 means a frame just ended; the next input byte starts another one.
      frame_complete_ = rc == 0;
    }
    return produced;
  }

 private:
  RawInput in_;
  ZSTD_DCtx* dctx_;
  bool frame_complete_ = true;
};

enum class Compression { kNone, kGzip, kZstd };

Compression DetectCompression(std::string_view head) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(head[i]); };
  if (head.size() >= 2 && byte(0) == 0x1f && byte(1) == 0x8b) return Compression::kGzip;
  if (head.size() >= 4 && byte(1) == 0xb5 && byte(2) == 0x2f && byte(3) == 0xfd &&
      byte(0) == 0x28) {
    return Compression::kZstd;
  }
  // Skippable zstd frame: magic 0x184D2A5? little-endian.
  if (head.size() >= 4 && (byte(0) & 0xf0) == 0x50 && byte(1) == 0x2a && byte(2) == 0x4d &&
      byte(3) == 0x18) {
    return Compression::kZstd;
  }
  return Compression::kNone;
}

class FileSourceImpl final : public FileSource {
 public:
  FileSourceImpl(std::unique_ptr<RawFile> file, const FileSourceOptions& options)
      : file_(std::move(file)),
        chunk_bytes_(std::max<size_t>(options.chunk_bytes, 1)),
        max_line_bytes_(std::max<size_t>(options.max_line_bytes, 1)),
        // Room for one chunk, plus an over-long line's first max+1 bytes or a
        // continuation group that runs past the chunk end. Beyond this a
        // group is split rather than holding unbounded memory.
        max_buffer_bytes_(2 * chunk_bytes_ + max_line_bytes_ + 1) {}

  Status Init(FileIdentity identity, Compression compression) {
    identity_ = std::move(identity);
    switch (compression) {
      case Compression::kNone:
        decoder_ = std::make_unique<PlainDecoder>(file_.get());
        plain_ = true;
        break;
      case Compression::kGzip: {
        auto gz = std::make_unique<GzipDecoder>(file_.get());
        FL_RETURN_IF_ERROR(gz->Init());
        decoder_ = std::move(gz);
        break;
      }
      case Compression::kZstd: {
        auto zst = std::make_unique<ZstdDecoder>(file_.get());
        FL_RETURN_IF_ERROR(zst->Init());
        decoder_ = std::move(zst);
        break;
      }
    }
    Allocate(chunk_bytes_);
    return Status::Ok();
  }

  const FileIdentity& identity() const override { return identity_; }
  uint64_t raw_bytes_read() const override { return file_->bytes_read(); }

  Status SkipTo(uint64_t offset) override {
    if (started_) {
      return Status::InvalidArgument("SkipTo after Next on " + file_->name());
    }
    if (offset == 0) return Status::Ok();
    if (plain_ && identity_.raw_size > 0) {
      if (offset > identity_.raw_size) {
        return PastEnd(offset);
      }
      if (file_->TrySeekForward(offset)) {
        decoded_ = offset;
        buf_offset_ = offset;
        return Status::Ok();
      }
    }
    // Compressed input (or a pipe): decode and drop.
    while (decoded_ < offset) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk_bytes_, offset - decoded_));
      FL_ASSIGN_OR_RETURN(size_t n, decoder_->Read(buf_.get(), want, decoded_));
      if (n == 0) return PastEnd(offset);
      decoded_ += n;
    }
    buf_offset_ = offset;
    return Status::Ok();
  }

  Result<Chunk> Next() override {
    started_ = true;
    for (;;) {
      if (skipping_line_) {
        FL_RETURN_IF_ERROR(SkipRestOfLine());
        if (skipping_line_) continue;
      }
      FL_RETURN_IF_ERROR(FillTo(want_));
      if (len_ == 0) {
        Chunk end;
        end.data = std::make_unique<char[]>(kInputPadding);  // zeroed
        end.offset = buf_offset_;
        return end;
      }
      const Cut cut = FindCut();
      switch (cut.kind) {
        case CutKind::kNeedMore:
          want_ = std::min(max_buffer_bytes_, std::max(want_ * 2, len_ + chunk_bytes_));
          continue;
        case CutKind::kOverLong:
          skipping_line_ = true;
          return Emit(max_line_bytes_ + 1);
        case CutKind::kAt:
          return Emit(cut.pos);
      }
    }
  }

 private:
  enum class CutKind { kAt, kOverLong, kNeedMore };
  struct Cut {
    CutKind kind;
    size_t pos = 0;
  };

  Status PastEnd(uint64_t offset) const {
    return Status::InvalidArgument("cannot resume " + file_->name() + " at offset " +
                                   std::to_string(offset) + ": past the end of the data (" +
                                   std::to_string(decoded_) + " bytes)");
  }

  // Replaces buf_ with an allocation for `capacity` bytes (plus padding),
  // keeping its contents.
  void Allocate(size_t capacity) {
    // make_unique_for_overwrite: no zeroing of megabytes we overwrite anyway.
    auto fresh = std::make_unique_for_overwrite<char[]>(capacity + kInputPadding);
    if (len_ > 0) std::memcpy(fresh.get(), buf_.get(), len_);
    buf_ = std::move(fresh);
    capacity_ = capacity;
  }

  // Reads until len_ >= want or the stream ends.
  Status FillTo(size_t want) {
    if (want > capacity_) Allocate(want);
    while (len_ < want && !eof_) {
      FL_ASSIGN_OR_RETURN(size_t n, decoder_->Read(buf_.get() + len_, want - len_, decoded_));
      if (n == 0) {
        eof_ = true;
        break;
      }
      len_ += n;
      decoded_ += n;
    }
    return Status::Ok();
  }

  // Drops bytes up to and including the next '\n' (the rest of an over-long
  // line). Leaves skipping_line_ set if the buffer ran out first.
  Status SkipRestOfLine() {
    if (len_ == 0) FL_RETURN_IF_ERROR(FillTo(chunk_bytes_));
    if (len_ == 0) {
      skipping_line_ = false;  // the over-long line was the last one
      return Status::Ok();
    }
    const void* nl = std::memchr(buf_.get(), '\n', len_);
    if (nl == nullptr) {
      buf_offset_ += len_;
      len_ = 0;
      return Status::Ok();
    }
    const size_t drop = static_cast<size_t>(static_cast<const char*>(nl) - buf_.get()) + 1;
    std::memmove(buf_.get(), buf_.get() + drop, len_ - drop);
    len_ -= drop;
    buf_offset_ += drop;
    skipping_line_ = false;
    return Status::Ok();
  }

  // Start of the line whose '\n' is at pos - 1.
  size_t LineStartBefore(size_t pos) const {
    if (pos == 0) return 0;
    const void* nl = memrchr(buf_.get(), '\n', pos - 1);
    return nl == nullptr ? 0 : static_cast<size_t>(static_cast<const char*>(nl) - buf_.get()) + 1;
  }

  Cut FindCut() const {
    const char* data = buf_.get();
    // Walk the buffer in strides of max_line_bytes_+1, each time jumping to
    // the last newline in the stride. memrchr finds it within one line from
    // the stride's end, so this costs a few calls per chunk, yet any line
    // longer than max_line_bytes_ leaves a stride with no newline at all.
    size_t line_start = 0;  // after the loop: start of the incomplete tail
    while (line_start < len_) {
      const size_t window = std::min(max_line_bytes_ + 1, len_ - line_start);
      const void* nl = memrchr(data + line_start, '\n', window);
      if (nl == nullptr) {
        if (window == max_line_bytes_ + 1) {
          // Over-long line at line_start: flush what precedes it first.
          return line_start > 0 ? Cut{CutKind::kAt, line_start} : Cut{CutKind::kOverLong, 0};
        }
        break;  // incomplete last line
      }
      line_start = static_cast<size_t>(static_cast<const char*>(nl) - data) + 1;
    }
    if (eof_) return {CutKind::kAt, len_};
    // Not at the end: the tail line may be incomplete, so it goes to the next
    // chunk. Cut before the last complete line that is not a continuation,
    // so a record and its continuation lines stay together. Checking only a
    // complete line (never a prefix) keeps IsContinuationLine's answer exact.
    size_t end = line_start;  // one past the '\n' of the candidate line
    while (end > 0) {
      const size_t start = LineStartBefore(end);
      if (start == 0) break;
      const std::string_view line(data + start, end - 1 - start);
      if (!IsContinuationLine(line)) return {CutKind::kAt, start};
      end = start;
    }
    // The whole buffer is one record with its continuations (or one line).
    if (len_ < max_buffer_bytes_) return {CutKind::kNeedMore, 0};
    // Bounded memory wins over keeping a huge group together.
    // line_start is never 0 here (such a line would be over-long); the
    // fallback only guarantees progress.
    return {CutKind::kAt, line_start > 0 ? line_start : len_};
  }

  // Hands buf_[0, size) to the caller and keeps the rest for the next chunk.
  Chunk Emit(size_t size) {
    const size_t rest = len_ - size;
    const size_t next_capacity = std::max(chunk_bytes_, rest);
    auto next = std::make_unique_for_overwrite<char[]>(next_capacity + kInputPadding);
    if (rest > 0) std::memcpy(next.get(), buf_.get() + size, rest);
    std::memset(buf_.get() + size, 0, kInputPadding);

    Chunk chunk;
    chunk.data = std::move(buf_);
    chunk.size = size;
    chunk.offset = buf_offset_;

    buf_ = std::move(next);
    capacity_ = next_capacity;
    len_ = rest;
    buf_offset_ += size;
    want_ = chunk_bytes_;
    return chunk;
  }

  std::unique_ptr<RawFile> file_;
  std::unique_ptr<Decoder> decoder_;
  FileIdentity identity_;
  const size_t chunk_bytes_;
  const size_t max_line_bytes_;
  const size_t max_buffer_bytes_;
  bool plain_ = false;
  bool started_ = false;

  // buf_[0, len_) holds decompressed bytes from stream offset buf_offset_
  // that no chunk has returned yet; capacity_ excludes the padding.
  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0;
  size_t len_ = 0;
  uint64_t buf_offset_ = 0;
  uint64_t decoded_ = 0;  // decompressed bytes produced by decoder_
  size_t want_ = chunk_bytes_;
  bool eof_ = false;
  bool skipping_line_ = false;
};

}  // namespace

Result<std::unique_ptr<FileSource>> FileSource::Open(const std::string& path,
                                                     const FileSourceOptions& options) {
  const bool is_stdin = path == "-";
  const std::string name = is_stdin ? std::string("stdin") : path;
  int fd = STDIN_FILENO;
  if (!is_stdin) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      std::string msg = "cannot open " + path + ": " + Errno(err);
      if (err == ENOENT) return Status::NotFound(std::move(msg));
      return Status::IOError(std::move(msg));
    }
  }
  auto file = std::make_unique<RawFile>(name, fd, !is_stdin);

  FileIdentity identity;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return Status::IOError("cannot stat " + name + ": " + Errno(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return Status::IOError("cannot read " + name + ": " + Errno(EISDIR));
  }
  if (S_ISREG(st.st_mode)) {
    identity.raw_size = static_cast<uint64_t>(st.st_size);
    // The kernel may read ahead more aggressively; advice only, so a failure
    // changes nothing.
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  if (is_stdin) identity.raw_size = 0;

  FL_RETURN_IF_ERROR(file->ReadHead());
  identity.fingerprint = Hex64(Fingerprint64(file->head()));
  const Compression compression = DetectCompression(file->head());
  identity.compressed = compression != Compression::kNone;

  auto source = std::make_unique<FileSourceImpl>(std::move(file), options);
  FL_RETURN_IF_ERROR(source->Init(std::move(identity), compression));
  return std::unique_ptr<FileSource>(std::move(source));
}

}  // namespace faultline::ingest
