#include "tools/patterns_mine.h"

#include "tools/config.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>

#include "core/dead_letter.h"
#include "core/json_writer.h"
#include "core/record.h"
#include "ingest/file_source.h"
#include "ingest/line_format.h"
#include "ingest/parser.h"
#include "ingest/template_miner.h"

namespace faultline::tools {

namespace {

enum class MineFormat { kAuto, kJson, kPlain };

// Where a line's message and service live: in the chunk, or in the work
// item's arena (JSON messages, decoded by the parser).
struct TextRef {
  bool in_arena = false;
  size_t offset = 0;
  size_t size = 0;
};

struct Work {
  ingest::Chunk chunk;
  std::string arena;
  std::vector<TextRef> messages;
  std::vector<TextRef> services;  // size 0 unless some line named its service
  std::vector<int64_t> ts_ns;
  std::vector<ingest::PreparedMessage> prepared;

  std::string_view View(const TextRef& ref) const {
    return ref.in_arena ? std::string_view(arena).substr(ref.offset, ref.size)
                        : chunk.view().substr(ref.offset, ref.size);
  }
};

// First error of any stage; later ones are dropped.
class ErrorSlot {
 public:
  void Set(Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (status_.ok()) status_ = std::move(status);
    failed_.store(true);
  }
  bool failed() const { return failed_.load(); }
  Status Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  Status status_;
  std::atomic<bool> failed_{false};
};

Status StageError(std::string_view stage, const std::exception& e) {
  std::string message(stage);
  message += " stage: ";
  message += e.what();
  return Status::Internal(std::move(message));
}

std::string ServiceFromPath(const std::string& path) {
  if (path == "-") return "stdin";
  std::string name = std::filesystem::path(path).filename().string();
  for (std::string_view ext : {".gz", ".zst", ".log", ".txt", ".json", ".ndjson", ".jsonl"}) {
    if (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0) {
      name.resize(name.size() - ext.size());
    }
  }
  return name;
}

class LineSplitter {
 public:
  LineSplitter(MineFormat format, const ingest::LineFormat* line_format,
               const ingest::ParserOptions* parser_options)
      : format_(format), line_format_(line_format), parser_options_(parser_options) {
    if (line_format_ != nullptr) {
      const std::vector<std::string>& fields = line_format_->fields();
      for (size_t i = 0; i < fields.size(); ++i) {
        if (fields[i] == "Content" || (fields[i] == "Message" && content_field_ < 0)) {
          content_field_ = static_cast<int>(i);
        }
        if (fields[i] == "Service") service_field_ = static_cast<int>(i);
      }
    }
  }

  // Fills work->messages (and services, ts_ns) for every line of the chunk.
  void Split(Work* work) {
    const std::string_view text = work->chunk.view();
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      size_t line_end = end;
      if (line_end > pos && text[line_end - 1] == '\r') --line_end;
      AddLine(work, text.substr(pos, line_end - pos), pos);
      pos = end + 1;
    }
  }

 private:
  void AddLine(Work* work, std::string_view line, size_t offset) {
    const size_t index = work->messages.size();
    work->messages.push_back(TextRef{false, offset, line.size()});
    work->ts_ns.push_back(0);
    size_t first = 0;
    while (first < line.size() && (line[first] == ' ' || line[first] == '\t')) ++first;
    const bool json_shape = first < line.size() && line[first] == '{';
    if (format_ != MineFormat::kPlain && json_shape) {
      if (!parser_) parser_ = std::make_unique<ingest::LineParser>(*parser_options_);
      batch_.Clear();
      const uint32_t source = batch_.AddSource("-", -1);
      parser_->ParseLine(line, 0, source, &batch_);
      if (batch_.rows().empty() && !batch_.dead_letters().empty() &&
          batch_.dead_letters().front().reason == RejectReason::kMissingTimestamp) {
        // Mining needs no time: give the object one and read it again.
        patched_.assign("{\"@timestamp\":\"2000-01-01T00:00:00Z\",");
        patched_.append(line.substr(first + 1));
        batch_.Clear();
        const uint32_t again = batch_.AddSource("-", -1);
        parser_->ParseLine(patched_, 0, again, &batch_);
      }
      if (!batch_.rows().empty()) {
        const RecordRow& row = batch_.rows().front();
        work->messages[index] = Intern(work, batch_.Get(row.message));
        SetService(work, index, batch_.Get(row.service));
        work->ts_ns[index] = row.ts_ns;
      }
      return;
    }
    if (line_format_ != nullptr && content_field_ >= 0 && line_format_->Match(line, &values_)) {
      const std::string_view content = values_[static_cast<size_t>(content_field_)];
      work->messages[index] =
          TextRef{false, offset + static_cast<size_t>(content.data() - line.data()),
                  content.size()};
      if (service_field_ >= 0) {
        SetService(work, index, values_[static_cast<size_t>(service_field_)]);
      }
    }
  }

  static TextRef Intern(Work* work, std::string_view text) {
    TextRef ref{true, work->arena.size(), text.size()};
    work->arena.append(text);
    return ref;
  }

  static void SetService(Work* work, size_t index, std::string_view service) {
    if (service.empty()) return;
    work->services.resize(work->messages.size());
    work->services[index] = Intern(work, service);
  }

  MineFormat format_;
  const ingest::LineFormat* line_format_;
  const ingest::ParserOptions* parser_options_;
  int content_field_ = -1;
  int service_field_ = -1;
  std::unique_ptr<ingest::LineParser> parser_;
  RecordBatch batch_;
  std::string patched_;
  std::vector<std::string_view> values_;
};

}  // namespace

Status RunPatternsMine(const PatternsMineRequest& request) {
  MineFormat format;
  if (request.format == "auto") {
    format = MineFormat::kAuto;
  } else if (request.format == "json") {
    format = MineFormat::kJson;
  } else if (request.format == "plain") {
    format = MineFormat::kPlain;
  } else {
    std::string message = "--format must be auto, json or plain, not '";
    message += request.format;
    message += '\'';
    return Status::InvalidArgument(std::move(message));
  }
  FL_ASSIGN_OR_RETURN(Config config, LoadConfig(request.config_path));
  FL_RETURN_IF_ERROR(ApplyParserFlags(request.line_format, request.time_layout, &config));
  const ingest::MinerOptions& miner_options = config.miner;
  Result<std::shared_ptr<const ingest::Masker>> masker = ingest::CompileMasker(miner_options);
  if (!masker.ok()) return masker.status();
  ingest::TemplateMiner miner(miner_options, masker.value());
  const ingest::Masker& masker_ref = *masker.value();

  const int threads = WorkerThreads(request.threads);
  const auto start = std::chrono::steady_clock::now();
  uint64_t line_id = 0;
  std::string out;
  ErrorSlot error;

  for (const std::string& path : request.files) {
    // The file's [[sources]] entry gives its line format and service.
    ingest::ParserOptions parser_options = config.ParserOptionsFor(path, ServiceFromPath(path));
    parser_options.join_multiline = false;
    // Any time will do: mining never looks at it.
    parser_options.min_ts_ns = 0;
    parser_options.max_future_ns = int64_t{1} << 62;
    if (!request.message_field.empty()) {
      parser_options.aliases.message.insert(parser_options.aliases.message.begin(),
                                            request.message_field);
    }
    const ingest::LineFormat* line_format = parser_options.line_format.get();
    const std::string file_service = parser_options.default_service;
    Result<std::unique_ptr<ingest::FileSource>> opened =
        ingest::FileSource::Open(path, ingest::FileSourceOptions{});
    if (!opened.ok()) return opened.status();
    ingest::FileSource* source = opened.value().get();
    tbb::enumerable_thread_specific<std::unique_ptr<LineSplitter>> splitters([&] {
      return std::make_unique<LineSplitter>(format, line_format, &parser_options);
    });

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
                  error.Set(chunk.status().WithContext(path));
                  control.stop();
                  return nullptr;
                }
                if (chunk->size == 0) {
                  control.stop();
                  return nullptr;
                }
                auto work = std::make_shared<Work>();
                work->chunk = std::move(chunk).value();
                return work;
              }) &
              tbb::make_filter<std::shared_ptr<Work>, std::shared_ptr<Work>>(
                  tbb::filter_mode::parallel,
                  [&](std::shared_ptr<Work> work) -> std::shared_ptr<Work> {
                    if (error.failed()) return work;
                    try {
                      splitters.local()->Split(work.get());
                      work->prepared.resize(work->messages.size());
                      for (size_t i = 0; i < work->messages.size(); ++i) {
                        ingest::TemplateMiner::Prepare(
                            masker_ref, work->View(work->messages[i]), &work->prepared[i]);
                      }
                    } catch (const std::exception& e) {
                      error.Set(StageError("prepare", e));
                    }
                    return work;
                  }) &
              tbb::make_filter<std::shared_ptr<Work>, void>(
                  tbb::filter_mode::serial_in_order, [&](std::shared_ptr<Work> work) {
                    if (error.failed()) return;
                    try {
                      out.clear();
                      for (size_t i = 0; i < work->prepared.size(); ++i) {
                        std::string_view service = file_service;
                        if (i < work->services.size() && work->services[i].size > 0) {
                          service = work->View(work->services[i]);
                        }
                        const uint64_t id =
                            miner.Mine(service, work->prepared[i], work->ts_ns[i], nullptr);
                        out += "{\"line_id\":";
                        out += std::to_string(++line_id);
                        out += ",\"template_id\":\"";
                        out += ingest::TemplateIdString(id);
                        out += "\",\"template\":";
                        const ingest::MinedTemplate* found = miner.Find(id);
                        AppendJsonString(&out, found == nullptr ? std::string_view()
                                                                : std::string_view(found->text));
                        out += "}\n";
                      }
                      if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) {
                        error.Set(Status::IOError("writing to stdout failed"));
                      }
                    } catch (const std::exception& e) {
                      error.Set(StageError("mine", e));
                    }
                  }));
    });
    FL_RETURN_IF_ERROR(error.Take());
  }
  std::fflush(stdout);

  if (!request.quiet) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const ingest::MinerCounters& counters = miner.counters();
    std::fprintf(stderr,
                 "patterns mine: %llu lines, %llu templates, %llu services, %llu "
                 "generalisations, %llu over the cap, %.3f s (%.0f lines/s, %d threads)\n",
                 static_cast<unsigned long long>(line_id),
                 static_cast<unsigned long long>(counters.templates),
                 static_cast<unsigned long long>(counters.services),
                 static_cast<unsigned long long>(counters.generalised),
                 static_cast<unsigned long long>(counters.over_cap), seconds,
                 seconds > 0 ? static_cast<double>(line_id) / seconds : 0.0, threads);
  }
  return Status::Ok();
}

}  // namespace faultline::tools
