#include "ingest/file_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include "ingest/parser.h"
#include "tests/testutil/test_util.h"

namespace faultline::ingest {
namespace {

using ::faultline::testing::TempDir;
using ::faultline::testing::WriteFile;

struct ChunkCopy {
  std::string bytes;
  uint64_t offset = 0;
};

// Reads `path` to the end, checking the padding of every chunk.
Result<std::vector<ChunkCopy>> ReadAll(const std::string& path, const FileSourceOptions& options,
                                       uint64_t skip_to = 0) {
  auto source = FileSource::Open(path, options);
  if (!source.ok()) return source.status();
  if (skip_to > 0) FL_RETURN_IF_ERROR((*source)->SkipTo(skip_to));
  std::vector<ChunkCopy> chunks;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    auto chunk = (*source)->Next();
    if (!chunk.ok()) return chunk.status();
    for (size_t i = 0; i < kInputPadding; ++i) {
      EXPECT_EQ(chunk->data[chunk->size + i], '\0') << "padding byte " << i;
    }
    if (chunk->size == 0) return chunks;
    chunks.push_back({std::string(chunk->view()), chunk->offset});
  }
  return Status::Internal("no end of input");
}

std::string Concat(const std::vector<ChunkCopy>& chunks) {
  std::string all;
  for (const auto& c : chunks) all += c.bytes;
  return all;
}

// Offsets are contiguous from `start` and every chunk but the last ends a line.
void ExpectWellFormed(const std::vector<ChunkCopy>& chunks, uint64_t start = 0) {
  uint64_t expected = start;
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].offset, expected) << "chunk " << i;
    expected += chunks[i].bytes.size();
    ASSERT_FALSE(chunks[i].bytes.empty());
    if (i + 1 < chunks.size()) {
      EXPECT_EQ(chunks[i].bytes.back(), '\n') << "chunk " << i;
    }
  }
}

std::string FirstLine(std::string_view s) {
  const size_t nl = s.find('\n');
  return std::string(s.substr(0, nl == std::string_view::npos ? s.size() : nl));
}

std::string Gzip(std::string_view data, int level = 6) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string Zstd(std::string_view data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

// NDJSON-ish lines with varied lengths, deterministic.
std::string MakeLines(size_t count, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    out += "{\"ts\":\"2026-01-01T00:00:00Z\",\"i\":" + std::to_string(i) + ",\"msg\":\"";
    out.append(rng() % 200, static_cast<char>('a' + i % 26));
    out += "\"}\n";
  }
  return out;
}

class FileSourceTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = dir_.Sub(name);
    WriteFile(path, contents);
    return path;
  }
  TempDir dir_;
};

TEST_F(FileSourceTest, PlainRoundTripWithExactOffsets) {
  const std::string content = MakeLines(2000);
  const std::string path = Write("plain.log", content);
  FileSourceOptions options;
  options.chunk_bytes = 4096;
  auto chunks = ReadAll(path, options);
  ASSERT_OK(chunks.status());
  EXPECT_GT(chunks->size(), 10u);
  ExpectWellFormed(*chunks);
  EXPECT_EQ(Concat(*chunks), content);
  for (const auto& c : *chunks) {
    EXPECT_EQ(content.substr(c.offset, c.bytes.size()), c.bytes);
    EXPECT_LE(c.bytes.size(), 4096u);
  }
}

TEST_F(FileSourceTest, DefaultOptionsReadWholeFileInOneChunk) {
  const std::string content = MakeLines(100);
  auto chunks = ReadAll(Write("one.log", content), FileSourceOptions{});
  ASSERT_OK(chunks.status());
  ASSERT_EQ(chunks->size(), 1u);
  EXPECT_EQ((*chunks)[0].bytes, content);
}

TEST_F(FileSourceTest, GzipRoundTrip) {
  const std::string content = MakeLines(30000);  // several MiB: many refills
  const std::string path = Write("a.log.gz", Gzip(content));
  FileSourceOptions options;
  options.chunk_bytes = 256 << 10;
  auto source = FileSource::Open(path, options);
  ASSERT_OK(source.status());
  EXPECT_TRUE((*source)->identity().compressed);
  auto chunks = ReadAll(path, options);
  ASSERT_OK(chunks.status());
  ExpectWellFormed(*chunks);
  EXPECT_EQ(Concat(*chunks), content);
}

TEST_F(FileSourceTest, MultiMemberGzip) {
  const std::string a = MakeLines(500, 1);
  const std::string b = MakeLines(700, 2);
  const std::string c = "last line without newline";
  const std::string path = Write("multi.gz", Gzip(a) + Gzip(b, 1) + Gzip(c, 9));
  FileSourceOptions options;
  options.chunk_bytes = 1000;
  auto chunks = ReadAll(path, options);
  ASSERT_OK(chunks.status());
  ExpectWellFormed(*chunks);
  EXPECT_EQ(Concat(*chunks), a + b + c);
}

TEST_F(FileSourceTest, GzipTrailingZeroPaddingIsIgnored) {
  const std::string content = MakeLines(10);
  auto chunks = ReadAll(Write("pad.gz", Gzip(content) + std::string(100, '\0')), {});
  ASSERT_OK(chunks.status());
  EXPECT_EQ(Concat(*chunks), content);
}

TEST_F(FileSourceTest, ZstdMultiFrameRoundTrip) {
  const std::string a = MakeLines(20000, 3);
  const std::string b = MakeLines(10, 4);
  const std::string path = Write("a.zst", Zstd(a) + Zstd(b));
  FileSourceOptions options;
  options.chunk_bytes = 100 << 10;
  auto chunks = ReadAll(path, options);
  ASSERT_OK(chunks.status());
  ExpectWellFormed(*chunks);
  EXPECT_EQ(Concat(*chunks), a + b);
}

TEST_F(FileSourceTest, DetectsCompressionByMagicNotName) {
  const std::string content = MakeLines(50);
  auto gz = ReadAll(Write("looks-plain.log", Gzip(content)), {});
  ASSERT_OK(gz.status());
  EXPECT_EQ(Concat(*gz), content);
  auto plain = ReadAll(Write("looks-compressed.gz", content), {});
  ASSERT_OK(plain.status());
  EXPECT_EQ(Concat(*plain), content);
}

TEST_F(FileSourceTest, NeverSplitsContinuationGroups) {
  // Records with stack traces of varying length, cut with tiny chunks.
  std::string content;
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    content += "2026-01-01 12:00:00,000 ERROR request " + std::to_string(i) + " failed\n";
    const int frames = static_cast<int>(rng() % 6);
    for (int f = 0; f < frames; ++f) {
      content += "\tat com.example.Service.method" + std::to_string(f) + "(Service.java:" +
                 std::to_string(rng() % 900) + ")\n";
    }
  }
  ASSERT_TRUE(IsContinuationLine("\tat com.example.Service.method0(Service.java:1)"));
  for (size_t chunk_bytes : {1ul, 17ul, 64ul, 150ul, 1000ul}) {
    FileSourceOptions options;
    options.chunk_bytes = chunk_bytes;
    auto chunks = ReadAll(Write("trace.log", content), options);
    ASSERT_OK(chunks.status());
    ExpectWellFormed(*chunks);
    EXPECT_EQ(Concat(*chunks), content);
    for (size_t i = 1; i < chunks->size(); ++i) {
      EXPECT_FALSE(IsContinuationLine(FirstLine((*chunks)[i].bytes)))
          << "chunk_bytes=" << chunk_bytes << " chunk " << i << " starts with a continuation";
    }
  }
}

TEST_F(FileSourceTest, RandomizedChunkingKeepsInvariants) {
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    std::string content;
    const int lines = static_cast<int>(rng() % 400);
    for (int i = 0; i < lines; ++i) {
      if (rng() % 4 == 0) {
        content += "    continuation " + std::string(rng() % 50, 'c') + "\n";
      } else {
        content += "line " + std::to_string(i) + std::string(rng() % 120, 'x') + "\n";
      }
    }
    if (rng() % 2 == 0) content += "tail-without-newline";
    FileSourceOptions options;
    options.chunk_bytes = 1 + rng() % 700;
    options.max_line_bytes = 1000;
    const std::string path = Write("rand" + std::to_string(round) + ".log", content);
    const bool gz = rng() % 2 == 0;
    if (gz) WriteFile(path, Gzip(content));
    auto chunks = ReadAll(path, options);
    ASSERT_OK(chunks.status());
    ExpectWellFormed(*chunks);
    EXPECT_EQ(Concat(*chunks), content) << "round " << round;
    for (size_t i = 1; i < chunks->size(); ++i) {
      EXPECT_FALSE(IsContinuationLine(FirstLine((*chunks)[i].bytes))) << "round " << round;
    }
  }
}

TEST_F(FileSourceTest, OverLongLineIsTruncatedIntoItsOwnChunk) {
  const std::string before = "first\nsecond\n";
  const std::string long_line = std::string(1000, 'L') + "\n";
  const std::string after = "third\nfourth\n";
  FileSourceOptions options;
  options.chunk_bytes = 4096;
  options.max_line_bytes = 100;
  auto chunks = ReadAll(Write("long.log", before + long_line + after), options);
  ASSERT_OK(chunks.status());
  ASSERT_EQ(chunks->size(), 3u);
  EXPECT_EQ((*chunks)[0].bytes, before);
  EXPECT_EQ((*chunks)[0].offset, 0u);
  EXPECT_EQ((*chunks)[1].bytes, std::string(101, 'L'));
  EXPECT_EQ((*chunks)[1].offset, before.size());
  EXPECT_EQ((*chunks)[2].bytes, after);
  EXPECT_EQ((*chunks)[2].offset, before.size() + long_line.size());
}

TEST_F(FileSourceTest, OverLongLinesAcrossManyReads) {
  // Lines far longer than the chunk size, gzip, last one without newline.
  const std::string content = "a\n" + std::string(50000, 'x') + "\nb\n" + std::string(30000, 'y');
  FileSourceOptions options;
  options.chunk_bytes = 512;
  options.max_line_bytes = 1000;
  auto chunks = ReadAll(Write("long.gz", Gzip(content)), options);
  ASSERT_OK(chunks.status());
  ASSERT_EQ(chunks->size(), 4u);
  EXPECT_EQ((*chunks)[0].bytes, "a\n");
  EXPECT_EQ((*chunks)[1].bytes, std::string(1001, 'x'));
  EXPECT_EQ((*chunks)[1].offset, 2u);
  EXPECT_EQ((*chunks)[2].bytes, "b\n");
  EXPECT_EQ((*chunks)[2].offset, 2u + 50001u);
  EXPECT_EQ((*chunks)[3].bytes, std::string(1001, 'y'));
  EXPECT_EQ((*chunks)[3].offset, 2u + 50001u + 2u);
}

TEST_F(FileSourceTest, LineOfExactlyMaxBytesIsKept) {
  const std::string content = std::string(100, 'm') + "\nnext\n";
  FileSourceOptions options;
  options.chunk_bytes = 16;
  options.max_line_bytes = 100;
  auto chunks = ReadAll(Write("exact.log", content), options);
  ASSERT_OK(chunks.status());
  EXPECT_EQ(Concat(*chunks), content);
}

TEST_F(FileSourceTest, MissingTrailingNewline) {
  auto chunks = ReadAll(Write("nonl.log", "a\nb\nlast"), {});
  ASSERT_OK(chunks.status());
  EXPECT_EQ(Concat(*chunks), "a\nb\nlast");
}

TEST_F(FileSourceTest, EmptyFile) {
  const std::string path = Write("empty.log", "");
  auto source = FileSource::Open(path, {});
  ASSERT_OK(source.status());
  EXPECT_EQ((*source)->identity().raw_size, 0u);
  EXPECT_FALSE((*source)->identity().compressed);
  auto chunk = (*source)->Next();
  ASSERT_OK(chunk.status());
  EXPECT_EQ(chunk->size, 0u);
  // Still at the end when asked again.
  auto again = (*source)->Next();
  ASSERT_OK(again.status());
  EXPECT_EQ(again->size, 0u);
}

TEST_F(FileSourceTest, SkipToResumesAtOffset) {
  const std::string content = MakeLines(1000);
  // Resume at the start of line 600.
  size_t offset = 0;
  for (int i = 0; i < 600; ++i) offset = content.find('\n', offset) + 1;
  FileSourceOptions options;
  options.chunk_bytes = 2000;
  for (const std::string name : {"skip.log", "skip.gz", "skip.zst"}) {
    std::string raw = content;
    if (name.ends_with(".gz")) raw = Gzip(content);
    if (name.ends_with(".zst")) raw = Zstd(content);
    auto chunks = ReadAll(Write(name, raw), options, offset);
    ASSERT_OK(chunks.status());
    ExpectWellFormed(*chunks, offset);
    EXPECT_EQ(Concat(*chunks), content.substr(offset)) << name;
  }
}

TEST_F(FileSourceTest, SkipToEndAndPastEnd) {
  const std::string content = MakeLines(10);
  const std::string path = Write("end.log", content);
  auto at_end = ReadAll(path, {}, content.size());
  ASSERT_OK(at_end.status());
  EXPECT_TRUE(at_end->empty());
  auto past = ReadAll(path, {}, content.size() + 1);
  EXPECT_EQ(past.status().code(), StatusCode::kInvalidArgument);
  auto past_gz = ReadAll(Write("end.gz", Gzip(content)), {}, content.size() + 1);
  EXPECT_EQ(past_gz.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(FileSourceTest, CorruptGzipIsCorruption) {
  std::string raw = Gzip(MakeLines(5000));
  for (size_t i = raw.size() / 2; i < raw.size() / 2 + 64; ++i) raw[i] = static_cast<char>(~raw[i]);
  const std::string path = Write("corrupt.gz", raw);
  auto chunks = ReadAll(path, {});
  ASSERT_FALSE(chunks.ok());
  EXPECT_EQ(chunks.status().code(), StatusCode::kCorruption);
  EXPECT_NE(chunks.status().message().find(path), std::string::npos) << chunks.status().ToString();
  EXPECT_NE(chunks.status().message().find("offset"), std::string::npos);
}

TEST_F(FileSourceTest, TruncatedGzipAndZstdAreCorruption) {
  const std::string content = MakeLines(3000);
  const std::string gz = Gzip(content);
  const std::string zst = Zstd(content);
  auto g = ReadAll(Write("trunc.gz", gz.substr(0, gz.size() / 2)), {});
  EXPECT_EQ(g.status().code(), StatusCode::kCorruption) << g.status().ToString();
  auto z = ReadAll(Write("trunc.zst", zst.substr(0, zst.size() / 2)), {});
  EXPECT_EQ(z.status().code(), StatusCode::kCorruption) << z.status().ToString();
  auto garbage = ReadAll(Write("garbage.gz", gz + "not gzip"), {});
  EXPECT_EQ(garbage.status().code(), StatusCode::kCorruption) << garbage.status().ToString();
}

TEST_F(FileSourceTest, CorruptZstdIsCorruption) {
  std::string raw = Zstd(MakeLines(5000));
  for (size_t i = raw.size() / 2; i < raw.size() / 2 + 64; ++i) raw[i] = static_cast<char>(~raw[i]);
  auto chunks = ReadAll(Write("corrupt.zst", raw), {});
  EXPECT_EQ(chunks.status().code(), StatusCode::kCorruption) << chunks.status().ToString();
}

TEST_F(FileSourceTest, MissingFileIsNotFound) {
  const std::string path = dir_.Sub("nope.log");
  auto source = FileSource::Open(path, {});
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(source.status().message(), "cannot open " + path + ": No such file or directory");
}

TEST_F(FileSourceTest, DirectoryIsIOError) {
  auto source = FileSource::Open(dir_.path().string(), {});
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kIOError);
}

TEST_F(FileSourceTest, IdentityStableAcrossRenames) {
  const std::string content = MakeLines(2000);  // > 64 KiB
  const std::string path = Write("orig.log", content);
  auto first = FileSource::Open(path, {});
  ASSERT_OK(first.status());
  const FileIdentity id = (*first)->identity();
  EXPECT_EQ(id.fingerprint.size(), 16u);
  EXPECT_EQ(id.raw_size, content.size());
  EXPECT_FALSE(id.compressed);

  const std::string renamed = dir_.Sub("renamed.log.1");
  std::filesystem::rename(path, renamed);
  auto second = FileSource::Open(renamed, {});
  ASSERT_OK(second.status());
  EXPECT_EQ((*second)->identity().fingerprint, id.fingerprint);
  EXPECT_EQ((*second)->identity().raw_size, id.raw_size);

  std::string changed = content;
  changed[10] = '#';
  auto third = FileSource::Open(Write("changed.log", changed), {});
  ASSERT_OK(third.status());
  EXPECT_NE((*third)->identity().fingerprint, id.fingerprint);

  auto gz = FileSource::Open(Write("orig.gz", Gzip(content)), {});
  ASSERT_OK(gz.status());
  EXPECT_TRUE((*gz)->identity().compressed);
  EXPECT_NE((*gz)->identity().fingerprint, id.fingerprint);
}

TEST_F(FileSourceTest, RawBytesReadReachesRawSize) {
  const std::string raw = Gzip(MakeLines(20000));
  const std::string path = Write("progress.gz", raw);
  auto source = FileSource::Open(path, {});
  ASSERT_OK(source.status());
  for (;;) {
    auto chunk = (*source)->Next();
    ASSERT_OK(chunk.status());
    if (chunk->size == 0) break;
  }
  EXPECT_EQ((*source)->raw_bytes_read(), raw.size());
}

TEST_F(FileSourceTest, ReadsStdin) {
  const std::string content = MakeLines(300);
  const std::string path = Write("stdin.gz", Gzip(content));
  const int saved = ::dup(STDIN_FILENO);
  ASSERT_GE(saved, 0);
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::dup2(fd, STDIN_FILENO), STDIN_FILENO);
  ::close(fd);
  auto chunks = ReadAll("-", {});
  ::dup2(saved, STDIN_FILENO);
  ::close(saved);
  ASSERT_OK(chunks.status());
  EXPECT_EQ(Concat(*chunks), content);
}

}  // namespace
}  // namespace faultline::ingest
