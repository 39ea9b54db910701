// faultline_bench_file_source: how fast FileSource turns a file into chunks
// (read + decompress + line/continuation-aware cutting), the first stage of
// ingest. Usage: faultline_bench_file_source FILE [--chunk-bytes N] [--runs N]
// Prints one line per run and the best, in decompressed MB/s.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>

#include "ingest/file_source.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [--chunk-bytes N] [--runs N]\n", argv[0]);
    return 2;
  }
  faultline::ingest::FileSourceOptions options;
  int runs = 3;
  size_t hold = 8;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--chunk-bytes") == 0) {
      options.chunk_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (std::strcmp(argv[i], "--runs") == 0) {
      runs = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--hold") == 0) {
      hold = std::strtoull(argv[i + 1], nullptr, 10);
    }
  }
  double best_mb_s = 0;
  for (int run = 0; run < runs; ++run) {
    const auto start = std::chrono::steady_clock::now();
    auto source = faultline::ingest::FileSource::Open(argv[1], options);
    if (!source.ok()) {
      std::fprintf(stderr, "%s\n", source.status().ToString().c_str());
      return 1;
    }
    uint64_t bytes = 0;
    uint64_t chunks = 0;
    std::deque<faultline::ingest::Chunk> in_flight;
    for (;;) {
      auto chunk = (*source)->Next();
      if (!chunk.ok()) {
        std::fprintf(stderr, "%s\n", chunk.status().ToString().c_str());
        return 1;
      }
      if (chunk->size == 0) break;
      bytes += chunk->size;
      ++chunks;
      in_flight.push_back(std::move(*chunk));
      if (in_flight.size() > hold) in_flight.pop_front();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double mb_s = static_cast<double>(bytes) / 1e6 / seconds;
    if (mb_s > best_mb_s) best_mb_s = mb_s;
    std::printf("run %d: %llu bytes in %llu chunks, %.3f s, %.0f MB/s (raw %llu bytes, %s)\n",
                run + 1, static_cast<unsigned long long>(bytes),
                static_cast<unsigned long long>(chunks), seconds, mb_s,
                static_cast<unsigned long long>((*source)->raw_bytes_read()),
                (*source)->identity().compressed ? "compressed" : "plain");
  }
  std::printf("best: %.0f MB/s\n", best_mb_s);
  return 0;
}
