#include "tools/ingest_pipeline.h"

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>

#include "ingest/file_source.h"
#include "ingest/parser.h"
#include "ingest/template_miner.h"
#include "storage/store.h"
#include "tools/internal/stages.h"

namespace faultline::tools {

namespace {

using Clock = std::chrono::steady_clock;
using internal::BatchPool;
using internal::ErrorSlot;
using internal::MiningState;

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return buf;
}

// One unit of pipeline work: a chunk of input and what it becomes.
struct Work {
  ingest::Chunk chunk;
  std::unique_ptr<RecordBatch> batch;
  storage::TemplateUpdates templates;  // what this batch changed
  std::vector<correlate::Call> calls;  // cross-service calls this batch resolved
  storage::EncodedBatch encoded;
  uint64_t end_offset = 0;  // source position after this chunk
};

class ProgressLine {
 public:
  ProgressLine(bool enabled, std::string label, uint64_t total_bytes)
      : enabled_(enabled), label_(std::move(label)), total_(total_bytes), start_(Clock::now()) {}

  void Update(uint64_t raw_bytes, uint64_t records, bool final = false) {
    if (!enabled_) return;
    auto now = Clock::now();
    if (!final && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    double seconds = std::chrono::duration<double>(now - start_).count();
    double rate = seconds > 0 ? static_cast<double>(records) / seconds : 0;
    std::string bar;
    if (total_ > 0) {
      double fraction = std::min(1.0, static_cast<double>(raw_bytes) / static_cast<double>(total_));
      int filled = static_cast<int>(fraction * 24);
      bar.push_back('[');
      bar.append(static_cast<size_t>(filled), '#');
      bar.append(static_cast<size_t>(24 - filled), '.');
      bar.append("] ");
      char pct[16];
      std::snprintf(pct, sizeof(pct), "%3.0f%% ", fraction * 100);
      bar += pct;
    }
    std::fprintf(stderr, "\r\033[K%s %s%s  %llu records  %.0f rec/s", label_.c_str(), bar.c_str(),
                 HumanBytes(static_cast<double>(raw_bytes)).c_str(),
                 static_cast<unsigned long long>(records), rate);
    if (final) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  std::string label_;
  uint64_t total_;
  Clock::time_point start_;
  Clock::time_point last_{};
};

// Ingests one file. Appends its report to `summary`.
Status IngestFile(const IngestRequest& request, const std::string& path, storage::Store* store,
                  MiningState* mining, IngestSummary* summary) {
  FileReport report;
  report.path = path;
  ingest::FileSourceOptions source_options;
  source_options.chunk_bytes = request.config.ingest.chunk_bytes;
  source_options.max_line_bytes = request.config.parser.max_line_bytes;
  FL_ASSIGN_OR_RETURN(std::unique_ptr<ingest::FileSource> source,
                      ingest::FileSource::Open(path, source_options));

  const bool is_stdin = path == "-";
  storage::SourcePosition position;
  position.description = is_stdin ? "stdin" : path;
  if (!is_stdin) {
    position.key = "file:" + source->identity().fingerprint;
    FL_ASSIGN_OR_RETURN(std::optional<storage::SourcePosition> stored,
                        store->GetPosition(position.key));
    if (stored && !request.force) {
      bool grown = !source->identity().compressed && source->identity().raw_size > stored->offset;
      if (stored->complete && !grown) {
        report.skipped = true;
        report.note = "already ingested (" + std::to_string(stored->offset) +
                      " bytes, as " + stored->description + "); --force ingests it again";
        if (request.notice) request.notice("skipping " + path + ": " + report.note);
        summary->files.push_back(std::move(report));
        return Status::Ok();
      }
      FL_RETURN_IF_ERROR(source->SkipTo(stored->offset));
      position.offset = stored->offset;
      report.note = "resumed at byte " + std::to_string(stored->offset);
      if (request.notice) request.notice(path + ": " + report.note);
    }
  }

  ingest::ParserOptions parser_options = request.config.ParserOptionsFor(
      path, is_stdin ? std::string("stdin") : ServiceFromPath(path));
  if (!request.service.empty()) parser_options.default_service = request.service;
  const storage::BlockOptions& block_options = store->options().block;
  const correlate::RollupOptions* rollup =
      request.config.rollups ? &request.config.rollup : nullptr;
  // Matches spans to their parents across the file's batches, for the call
  // edge rollups (correlate/rollup.h RollupCalls). One per file: its horizon
  // runs on event time, and files come in any time order (a later day's
  // file read first would expire every span of an earlier one on arrival).
  // A span and its parent are in one file in every exporter we know.
  std::unique_ptr<correlate::TopologyBuilder> topology = internal::NewCallMatcher(request.config);

  tbb::enumerable_thread_specific<std::unique_ptr<ingest::LineParser>> parsers(
      [&] { return std::make_unique<ingest::LineParser>(parser_options); });
  ErrorSlot error;
  BatchPool pool;
  ProgressLine progress(request.progress, std::filesystem::path(path).filename().string(),
                        source->identity().raw_size);
  uint64_t records_before = summary->records;
  ParseCounters file_counters;

  const int threads = WorkerThreads(request.config.ingest.threads);
  tbb::task_arena arena(threads);
  arena.execute([&] {
    tbb::parallel_pipeline(
        static_cast<size_t>(threads) * 2,
        tbb::make_filter<void, std::shared_ptr<Work>>(
            tbb::filter_mode::serial_in_order,
            [&](tbb::flow_control& control) -> std::shared_ptr<Work> {
              if (error.failed()) {
                control.stop();
                return nullptr;
              }
              Result<ingest::Chunk> chunk = source->Next();
              if (!chunk.ok()) {
                error.Set(chunk.status());
                control.stop();
                return nullptr;
              }
              if (chunk->size == 0) {
                control.stop();
                return nullptr;
              }
              auto work = std::make_shared<Work>();
              work->end_offset = chunk->offset + chunk->size;
              work->chunk = std::move(chunk).value();
              return work;
            }) &
            tbb::make_filter<std::shared_ptr<Work>, std::shared_ptr<Work>>(
                tbb::filter_mode::parallel,
                [&](std::shared_ptr<Work> work) -> std::shared_ptr<Work> {
                  if (error.failed()) return work;
                  try {
                    work->batch = pool.Acquire();
                    RecordBatch& batch = *work->batch;
                    uint32_t source_index =
                        batch.AddSource(is_stdin ? std::string("-") : path, -1);
                    parsers.local()->ParseChunk(work->chunk.view(), work->chunk.offset,
                                                source_index, &batch);
                    work->chunk = ingest::Chunk{};  // free input early
                    if (mining == nullptr && topology == nullptr) {
                      // Nothing to do in order between parsing and encoding:
                      // encode now, on this thread, while the batch is still
                      // in its cache (as before mining had a stage of its own).
                      internal::EncodeStage(block_options, rollup, &pool, &error, work.get());
                    }
                  } catch (const std::exception& e) {
                    error.Set(Status::Internal(std::string("parse stage: ") + e.what()));
                  }
                  return work;
                }) &
            tbb::make_filter<std::shared_ptr<Work>, std::shared_ptr<Work>>(
                tbb::filter_mode::serial_in_order,
                [&](std::shared_ptr<Work> work) -> std::shared_ptr<Work> {
                  internal::MineStage(mining, &error, work.get());
                  return work;
                }) &
            tbb::make_filter<std::shared_ptr<Work>, std::shared_ptr<Work>>(
                tbb::filter_mode::serial_in_order,
                [&](std::shared_ptr<Work> work) -> std::shared_ptr<Work> {
                  internal::TopologyStage(topology.get(), &error, work.get());
                  return work;
                }) &
            tbb::make_filter<std::shared_ptr<Work>, std::shared_ptr<Work>>(
                tbb::filter_mode::parallel,
                [&](std::shared_ptr<Work> work) -> std::shared_ptr<Work> {
                  internal::EncodeStage(block_options, rollup, &pool, &error, work.get());
                  return work;
                }) &
            tbb::make_filter<std::shared_ptr<Work>, void>(
                tbb::filter_mode::serial_in_order, [&](std::shared_ptr<Work> work) {
                  if (error.failed()) return;
                  try {
                    storage::EncodedBatch& encoded = work->encoded;
                    for (const storage::EncodedBlock& block : encoded.blocks) {
                      summary->records += block.record_count;
                      for (size_t k = 0; k < kRecordKindCount; ++k) {
                        summary->by_kind[k] += block.kind_counts[k];
                      }
                      summary->stored_bytes += block.payload.size();
                    }
                    summary->blocks += encoded.blocks.size();
                    file_counters.Add(encoded.counters);
                    std::vector<storage::SourcePosition> positions;
                    if (!is_stdin) {
                      position.offset = work->end_offset;
                      positions.push_back(position);
                    }
                    Status written = store->Write(std::move(encoded), positions);
                    if (!written.ok()) {
                      error.Set(written);
                      return;
                    }
                    progress.Update(source->raw_bytes_read(), summary->records);
                  } catch (const std::exception& e) {
                    error.Set(Status::Internal(std::string("write stage: ") + e.what()));
                  }
                }));
  });
  FL_RETURN_IF_ERROR(error.Take().WithContext(path));

  // Mark the file complete, with its identity, in its own small write,
  // with the calls of the traces still open (resolved now).
  storage::EncodedBatch last;
  if (topology != nullptr) last.series = internal::FlushCalls(topology.get(), *rollup);
  if (!is_stdin) position.complete = true;
  if (!is_stdin || !last.series.empty()) {
    std::vector<storage::SourcePosition> positions;
    if (!is_stdin) positions.push_back(position);
    FL_RETURN_IF_ERROR(store->Write(std::move(last), positions).WithContext(path));
  }
  progress.Update(source->raw_bytes_read(), summary->records, /*final=*/true);
  report.records = summary->records - records_before;
  report.bytes = file_counters.bytes;
  report.dead_letters = file_counters.TotalRejects();
  summary->counters.Add(file_counters);
  summary->files.push_back(std::move(report));
  return Status::Ok();
}

// The pipeline allocates and frees batch-sized buffers (16 MiB chunks, their
// arenas, encoded blocks) all the time. Above glibc's default mmap threshold
// each of those is a fresh mmap: zeroed pages, a page fault per 4 KiB, and
// an munmap. Keeping them in the heap halves the system time of an ingest.
void TuneAllocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
  });
}

}  // namespace

std::string ServiceFromPath(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  size_t dot = name.find('.');
  if (dot != std::string::npos && dot > 0) name.resize(dot);
  return name.empty() ? std::string("unknown") : name;
}

Result<IngestSummary> RunIngest(const IngestRequest& request) {
  if (request.files.empty()) return Status::InvalidArgument("no input files given");
  TuneAllocator();
  auto start = Clock::now();
  FL_ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store,
                      storage::Store::Open(request.db_dir, request.config.store));
  std::unique_ptr<MiningState> mining;
  if (request.config.mine_templates) {
    FL_ASSIGN_OR_RETURN(mining, internal::StartMining(request.config, store.get()));
  }
  IngestSummary summary;
  summary.open_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (const std::string& path : request.files) {
    FL_RETURN_IF_ERROR(IngestFile(request, path, store.get(), mining.get(), &summary));
  }
  if (mining != nullptr) summary.templates = mining->miner->counters();
  // Flush so the next open (every reader's) does not replay a large
  // write-ahead log.
  auto flush_start = Clock::now();
  FL_RETURN_IF_ERROR(store->Flush());
  auto end = Clock::now();
  summary.flush_seconds = std::chrono::duration<double>(end - flush_start).count();
  summary.seconds = std::chrono::duration<double>(end - start).count();
  return summary;
}

}  // namespace faultline::tools
