// The batch ingest pipeline: files (or stdin) -> parse -> encode -> store.
//
// A oneTBB parallel_pipeline per file: reading is serial and in order,
// parsing and block encoding run in parallel on chunks, and the store write
// is serial and in order, so each write commits exactly the source position
// its records reach. A file already ingested is recognised by its content
// fingerprint and skipped (or resumed where a previous run stopped).
//
// Blocking; runs on the calling thread plus a oneTBB arena of worker threads.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/record.h"
#include "core/status.h"
#include "ingest/template_miner.h"
#include "tools/config.h"

namespace faultline::tools {

struct IngestRequest {
  std::string db_dir;
  std::vector<std::string> files;  // "-" is stdin
  Config config;
  // Service for records that name none; empty: the file name without
  // directory and extensions ("api.log.gz" -> "api"), "stdin" for "-".
  std::string service;
  bool force = false;     // re-ingest files already ingested
  bool progress = false;  // draw a progress line on stderr
  // Receives one-line notices ("skipping x: already ingested").
  std::function<void(const std::string&)> notice;
};

struct FileReport {
  std::string path;
  bool skipped = false;
  std::string note;         // why skipped, or "resumed at byte N"
  uint64_t records = 0;
  uint64_t bytes = 0;       // decompressed bytes read
  uint64_t dead_letters = 0;
};

struct IngestSummary {
  uint64_t records = 0;
  std::array<uint64_t, kRecordKindCount> by_kind{};
  ParseCounters counters;  // lines, empty lines, joined lines, rejects by reason
  uint64_t blocks = 0;
  uint64_t stored_bytes = 0;  // compressed block bytes written
  double seconds = 0;
  double open_seconds = 0;   // opening (or creating) the store
  double flush_seconds = 0;  // the final flush of memtables to disk
  ingest::MinerCounters templates;  // the template miner, after the run
  std::vector<FileReport> files;
};

// Ingests every file in order into the store at request.db_dir.
// Fails (without committing past what was stored) when the store cannot be
// opened or written or a file cannot be read; bad lines never fail it.
Result<IngestSummary> RunIngest(const IngestRequest& request);

// "api.log.gz" -> "api"; "/var/log/x/app-1.jsonl" -> "app-1".
std::string ServiceFromPath(const std::string& path);

}  // namespace faultline::tools
