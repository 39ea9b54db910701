#include "tools/kafka_commands.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <CLI/CLI.hpp>

#include "core/record.h"
#include "core/status.h"
#include "ingest/file_source.h"
#include "ingest/kafka_broker.h"
#include "ingest/kafka_producer.h"
#include "ingest/parser.h"
#include "tools/ingest_pipeline.h"

namespace faultline::tools {

namespace {

using Clock = std::chrono::steady_clock;

// As in tools/cli.h.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// Reports `status` on stderr; a kInvalidArgument is a usage error.
int Fail(const Status& status) {
  std::fprintf(stderr, "faultline: %s\n", status.message().c_str());
  return status.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitError;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---- broker -------------------------------------------------------------------

// Writes `text` to `path` through a temporary file and a rename, so that a
// reader polling for the file never sees it half-written.
Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return Status::IOError("cannot write " + temp + ": " + std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) return Status::IOError("cannot rename " + temp + " to " + path + ": " + ec.message());
  return Status::Ok();
}

std::string TopicList(const BrokerCommandOptions& options) {
  if (options.topics.empty()) return "no topics yet";
  std::string list = "topic(s) ";
  for (size_t i = 0; i < options.topics.size(); ++i) {
    if (i > 0) list += ", ";
    list += options.topics[i];
  }
  return list + " with " + std::to_string(options.partitions) + " partition(s) each";
}

// ---- produce ------------------------------------------------------------------

// Lines longer than this are not sent (and counted as failed). Above
// librdkafka's default message.max.bytes (1,000,000) anyway.
constexpr size_t kMaxLineBytes = 1 << 20;

struct ProduceTotals {
  uint64_t records = 0;      // lines handed to the producer
  uint64_t bytes = 0;        // their payload bytes
  uint64_t empty_lines = 0;  // not sent
  uint64_t rejected = 0;     // not sent: too long, or refused by the producer
  std::string last_reject;
};

bool StdinIsRegularFile() {
  struct stat st {};
  return ::fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode);
}

// Lines from a pipe or terminal as they arrive (`tail -F app.log | faultline
// produce -`): each chunk is the complete lines read so far, so a line is
// sent as soon as it is whole. FileSource, used for files, fills large
// chunks first, which suits files but would hold a live stream back.
// Compressed data is not decoded here; such input is refused.
class LiveLines {
 public:
  LiveLines(int fd, const std::atomic<bool>& interrupted) : fd_(fd), interrupted_(interrupted) {}

  // The next complete lines, or a chunk of size 0 at the end of input or
  // when interrupted. A line longer than kMaxLineBytes comes alone, cut to
  // kMaxLineBytes + 1 bytes (the rest is dropped), as FileSource does.
  Result<ingest::Chunk> Next() {
    for (;;) {
      const size_t newline = pending_.rfind('\n');
      if (newline != std::string::npos) return Take(newline + 1);
      if (eof_) return Take(pending_.size());
      if (pending_.size() > kMaxLineBytes) {
        skipping_ = true;
        return Take(kMaxLineBytes + 1);
      }
      FL_RETURN_IF_ERROR(Read());
    }
  }

 private:
  // Waits for input in short steps (a blocking read would not return on
  // Ctrl-C: the signal handler restarts it) and appends what came.
  Status Read() {
    pollfd fds{fd_, POLLIN, 0};
    const int ready = ::poll(&fds, 1, 200);
    if (interrupted_.load()) {
      eof_ = true;
      pending_.clear();  // a partial line is not sent
      return Status::Ok();
    }
    if (ready <= 0) return Status::Ok();
    char buffer[64 << 10];
    const ssize_t n = ::read(fd_, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) return Status::Ok();
      return Status::IOError(std::string("cannot read stdin: ") + std::strerror(errno));
    }
    if (n == 0) {
      eof_ = true;
      return Status::Ok();
    }
    std::string_view data(buffer, static_cast<size_t>(n));
    if (offset_ == 0 && pending_.empty() && LooksCompressed(data)) {
      return Status::InvalidArgument(
          "stdin is compressed (gzip or zstd) and a pipe: decompress it first, e.g. zcat "
          "app.log.gz | faultline produce ... -, or pass the file itself");
    }
    if (skipping_) {
      const size_t newline = data.find('\n');
      if (newline == std::string_view::npos) return Status::Ok();
      skipping_ = false;
      data.remove_prefix(newline + 1);
    }
    pending_.append(data);
    return Status::Ok();
  }

  static bool LooksCompressed(std::string_view data) {
    return data.starts_with("\x1f\x8b") || data.starts_with("\x28\xb5\x2f\xfd");
  }

  ingest::Chunk Take(size_t size) {
    ingest::Chunk chunk;
    chunk.data = std::make_unique<char[]>(size + ingest::kInputPadding);
    std::memcpy(chunk.data.get(), pending_.data(), size);
    chunk.size = size;
    chunk.offset = offset_;
    offset_ += size;
    pending_.erase(0, size);
    return chunk;
  }

  const int fd_;
  const std::atomic<bool>& interrupted_;
  std::string pending_;
  uint64_t offset_ = 0;  // stream offset of pending_[0]
  bool eof_ = false;
  bool skipping_ = false;  // dropping the rest of an over-long line
};

// A progress line on stderr, redrawn at most five times a second.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}

  void Show(const ProduceTotals& totals, const ingest::ProducerCounters& counters,
            Clock::time_point start) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    const double seconds = SecondsSince(start);
    std::fprintf(stderr, "\r\033[Kproduce: %llu records, %.1f MiB, %.0f records/s, %llu delivered",
                 static_cast<unsigned long long>(totals.records),
                 static_cast<double>(totals.bytes) / (1 << 20),
                 seconds > 0 ? static_cast<double>(totals.records) / seconds : 0.0,
                 static_cast<unsigned long long>(counters.delivered));
  }
  void Clear() {
    if (enabled_) std::fputs("\r\033[K", stderr);
  }

 private:
  bool enabled_;
  Clock::time_point last_{};
};

// Produces the lines of the input files; owns what a run shares.
class LineProducer {
 public:
  LineProducer(const ProduceCommandOptions& options, ingest::KeyValues headers,
               ingest::KafkaProducer* producer, const std::atomic<bool>& interrupted)
      : options_(options),
        headers_(std::move(headers)),
        producer_(producer),
        interrupted_(interrupted),
        progress_(!options.quiet && isatty(STDERR_FILENO) == 1),
        start_(Clock::now()) {}

  // Sends one file. Fails on a read error or when the producer cannot go on
  // (fatal error, interrupted while the queue was full).
  Status SendFile(const std::string& path) {
    std::unique_ptr<ingest::FileSource> file;
    std::unique_ptr<LiveLines> live;
    if (path == "-" && !StdinIsRegularFile()) {
      live = std::make_unique<LiveLines>(STDIN_FILENO, interrupted_);
    } else {
      ingest::FileSourceOptions source_options;
      source_options.chunk_bytes = 1 << 20;
      source_options.max_line_bytes = kMaxLineBytes;
      FL_ASSIGN_OR_RETURN(file, ingest::FileSource::Open(path, source_options));
    }
    // The key of a record is its service as the parser reads it (the same
    // rules ingest uses: JSON service fields, logfmt service=...), else the
    // file's service, so that one service's records share a partition.
    ingest::ParserOptions parser_options;
    parser_options.default_service = path == "-" ? "stdin" : ServiceFromPath(path);
    parser_options.join_multiline = false;  // every line is its own message
    const bool by_service = options_.key.empty() && !options_.no_key;
    std::unique_ptr<ingest::LineParser> parser;
    if (by_service) parser = std::make_unique<ingest::LineParser>(parser_options);
    RecordBatch batch;
    while (!interrupted_.load()) {
      FL_ASSIGN_OR_RETURN(ingest::Chunk chunk, live != nullptr ? live->Next() : file->Next());
      if (chunk.size == 0) break;
      if (parser != nullptr) {
        batch.Clear();
        parser->ParseChunk(chunk.view(), chunk.offset, batch.AddSource(path, -1), &batch);
      }
      FL_RETURN_IF_ERROR(SendChunk(chunk, path, parser_options.default_service, batch));
    }
    return Status::Ok();
  }

  // Waits until every message is delivered or failed, or until interrupted.
  void Drain() {
    while (producer_->counters().in_flight() > 0 && !interrupted_.load()) {
      producer_->Flush(200).IgnoreError();  // the outcome is read from the counters
      progress_.Show(totals_, producer_->counters(), start_);
    }
    progress_.Clear();
  }

  const ProduceTotals& totals() const { return totals_; }
  double seconds() const { return SecondsSince(start_); }

 private:
  Status SendChunk(const ingest::Chunk& chunk, const std::string& path,
                   const std::string& file_service, const RecordBatch& batch) {
    const std::string_view text = chunk.view();
    const std::vector<RecordRow>& rows = batch.rows();
    size_t row = 0;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      std::string_view line = text.substr(pos, end - pos);
      const uint64_t offset = chunk.offset + pos;
      pos = end + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) {
        ++totals_.empty_lines;
        continue;
      }
      if (line.size() > kMaxLineBytes) {
        Reject(path + " at byte " + std::to_string(offset) + ": line longer than " +
               std::to_string(kMaxLineBytes) + " bytes, not sent");
        continue;
      }
      std::string_view key = options_.key;
      if (key.empty() && !options_.no_key) {
        while (row < rows.size() && rows[row].offset < offset) ++row;
        key = row < rows.size() && rows[row].offset == offset ? batch.Get(rows[row].service)
                                                              : file_service;
      }
      if (!WaitForRate()) return Status::Ok();  // interrupted
      Status sent = producer_->Produce(options_.topic, key, line, headers_);
      if (sent.code() == StatusCode::kInvalidArgument) {  // e.g. too large for the broker
        Reject(path + " at byte " + std::to_string(offset) + ": " + sent.message());
        continue;
      }
      if (!sent.ok() && interrupted_.load()) return Status::Ok();  // gave up on a full queue
      FL_RETURN_IF_ERROR(sent);
      ++totals_.records;
      totals_.bytes += line.size();
      progress_.Show(totals_, producer_->counters(), start_);
    }
    return Status::Ok();
  }

  void Reject(std::string why) {
    ++totals_.rejected;
    totals_.last_reject = std::move(why);
  }

  // With --rate, holds the next message back until its time slot, serving
  // delivery reports meanwhile. False when interrupted.
  bool WaitForRate() {
    if (options_.rate <= 0) return true;
    const auto due = start_ + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(
                                      static_cast<double>(totals_.records) / options_.rate));
    for (auto now = Clock::now(); now < due; now = Clock::now()) {
      if (interrupted_.load()) return false;
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(due - now).count();
      producer_->Poll(static_cast<int>(std::clamp<int64_t>(wait, 1, 100)));
      progress_.Show(totals_, producer_->counters(), start_);
    }
    return true;
  }

  const ProduceCommandOptions& options_;
  const ingest::KeyValues headers_;
  ingest::KafkaProducer* producer_;
  const std::atomic<bool>& interrupted_;
  Progress progress_;
  const Clock::time_point start_;
  ProduceTotals totals_;
};


// One line: records read (sent or refused), delivered, and failed, which
// counts refused lines, failed deliveries and any still in flight.
void PrintProduceSummary(const ProduceCommandOptions& options, const ProduceTotals& totals,
                         const ingest::ProducerCounters& counters, double seconds) {
  const uint64_t records = totals.records + totals.rejected;
  std::printf(
      "produced %llu records (%.1f MiB) to %s in %.2f s: %.0f records/s; %llu delivered, %llu "
      "failed",
      static_cast<unsigned long long>(records), static_cast<double>(totals.bytes) / (1 << 20),
      options.topic.c_str(), seconds, seconds > 0 ? static_cast<double>(records) / seconds : 0.0,
      static_cast<unsigned long long>(counters.delivered),
      static_cast<unsigned long long>(counters.failed + counters.in_flight() + totals.rejected));
  if (totals.empty_lines > 0) {
    std::printf("; %llu empty lines skipped", static_cast<unsigned long long>(totals.empty_lines));
  }
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

Status ParseKeyValues(const std::vector<std::string>& items, const char* flag,
                      ingest::KeyValues* out) {
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument(std::string(flag) + " wants name=value, got '" + item + "'");
    }
    out->emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return Status::Ok();
}

// ---- broker -------------------------------------------------------------------

CLI::App* AddBrokerCommand(CLI::App* app, BrokerCommandOptions* options) {
  CLI::App* broker = app->add_subcommand(
      "broker",
      "Run a Kafka-protocol broker in this process (librdkafka's mock cluster) for demos and "
      "tests,\nuntil Ctrl-C. Any Kafka client can use it (faultline, kcat, ...), from this "
      "machine only.\nIt prints 'bootstrap: 127.0.0.1:PORT' first. Limits: each partition keeps "
      "only about\n5 MiB (older messages are dropped); topics created on first use get 4 "
      "partitions.\nExamples:\n  faultline broker --port 9092 --topic logs\n"
      "  faultline broker --brokers 3 --partitions 16 --topic logs --topic signals\n"
      "  kcat -b 127.0.0.1:9092 -L        (list brokers and topics)");
  broker->add_option("--port", options->port,
                     "Fixed bootstrap port on 127.0.0.1 (default 0: the brokers' own random "
                     "ports; see docs/kafka.md)")
      ->check(CLI::Range(0, 65535));
  broker->add_option("--partitions", options->partitions,
                     "Partitions of each --topic (default 8)")
      ->check(CLI::Range(1, 10000));
  broker->add_option("--brokers", options->brokers,
                     "Number of brokers in the cluster, 1 to 3 (default 1)")
      ->check(CLI::Range(1, 3));
  broker->add_option("--topic,-t", options->topics, "Create this topic at start (repeat the flag)");
  broker->add_option("--ready-file", options->ready_file,
                     "Write the bootstrap address to this file once serving (for scripts)");
  return broker;
}

int RunBrokerCommand(const BrokerCommandOptions& options, const std::atomic<bool>& interrupted) {
  ingest::BrokerOptions broker_options;
  broker_options.brokers = options.brokers;
  broker_options.partitions = options.partitions;
  broker_options.topics = options.topics;
  broker_options.port = options.port;
  Result<std::unique_ptr<ingest::EmbeddedBroker>> broker =
      ingest::EmbeddedBroker::Start(broker_options);
  if (!broker.ok()) return Fail(broker.status());
  const std::string& bootstrap = (*broker)->bootstrap_servers();
  std::printf("bootstrap: %s\n", bootstrap.c_str());
  std::fflush(stdout);
  if (!options.ready_file.empty()) {
    if (Status written = WriteFileAtomically(options.ready_file, bootstrap + "\n");
        !written.ok()) {
      return Fail(written);
    }
  }
  std::fprintf(stderr,
               "faultline: Kafka broker serving at %s (%d broker(s), %s); Ctrl-C stops it.\n"
               "  try: faultline produce --brokers %s --topic %s app.log\n",
               bootstrap.c_str(), options.brokers, TopicList(options).c_str(), bootstrap.c_str(),
               options.topics.empty() ? "logs" : options.topics.front().c_str());
  while (!interrupted.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*broker)->Stop();
  if (!options.ready_file.empty()) {
    std::error_code ec;
    std::filesystem::remove(options.ready_file, ec);  // stale once stopped; ignore failure
  }
  std::fprintf(stderr, "faultline: broker stopped\n");
  return kExitOk;
}

// ---- produce ------------------------------------------------------------------

CLI::App* AddProduceCommand(CLI::App* app, ProduceCommandOptions* options) {
  CLI::App* produce = app->add_subcommand(
      "produce",
      "Send log files to a Kafka topic, one message per line (plain, .gz, .zst; - for stdin).\n"
      "Each message's key is the service of its record (JSON service fields, as ingest reads "
      "them),\nelse the file's service (its name without extensions), so that one service's "
      "records\nland in one partition, in order. Exits 1 if any line was not delivered.\n"
      "Examples:\n  faultline produce --brokers 127.0.0.1:9092 --topic logs api.log.gz "
      "db.log.zst\n"
      "  tail -F app.log | faultline produce --brokers kafka1:9092 --topic logs -   (live)\n"
      "  faultline produce --brokers kafka1:9092 --topic logs --rate 500 --property "
      "compression.type=zstd replay.log");
  produce->add_option("--brokers,-b", options->brokers,
                      "Kafka bootstrap servers, host:port[,host:port...]")
      ->required();
  produce->add_option("--topic,-t", options->topic, "Topic to send to")->required();
  CLI::Option* key = produce->add_option("--key,-k", options->key, "The same key for every message");
  CLI::Option* by_service = produce->add_flag(
      "--key-by-service", options->key_by_service,
      "Key = the record's service, else the file's (the default)");
  CLI::Option* no_key =
      produce->add_flag("--no-key", options->no_key, "No key: messages spread over partitions");
  key->excludes(by_service)->excludes(no_key);
  by_service->excludes(no_key);
  produce->add_option("--rate", options->rate,
                      "At most this many messages per second (default: as fast as possible)")
      ->check(CLI::NonNegativeNumber);
  produce->add_option("--property,-X", options->properties,
                      "librdkafka property name=value, e.g. -X compression.type=zstd -X "
                      "acks=all (repeat)");
  produce->add_option("--header,-H", options->headers,
                      "Header name=value added to every message (repeat)");
  produce->add_flag("--quiet,-q", options->quiet, "No progress and no summary");
  produce->add_option("files", options->files, "Files to send; - reads stdin")->required();
  return produce;
}

int RunProduceCommand(const ProduceCommandOptions& options, const std::atomic<bool>& interrupted) {
  ingest::ProducerOptions producer_options;
  producer_options.bootstrap_servers = options.brokers;
  producer_options.interrupted = &interrupted;
  ingest::KeyValues headers;
  if (Status parsed = ParseKeyValues(options.properties, "--property", &producer_options.properties);
      !parsed.ok()) {
    return Fail(parsed);
  }
  if (Status parsed = ParseKeyValues(options.headers, "--header", &headers); !parsed.ok()) {
    return Fail(parsed);
  }
  // Missing files are found before anything is sent.
  for (const std::string& path : options.files) {
    if (path != "-" && ::access(path.c_str(), R_OK) != 0) {
      return Fail(Status::NotFound("cannot read " + path + ": " + std::strerror(errno)));
    }
  }
  Result<std::unique_ptr<ingest::KafkaProducer>> producer =
      ingest::KafkaProducer::Create(producer_options);
  if (!producer.ok()) return Fail(producer.status());
  // Reach the brokers and find the topic first, for a clear error rather
  // than messages that time out minutes later.
  if (Result<int> partitions = (*producer)->PartitionCount(options.topic, 10000);
      !partitions.ok()) {
    return Fail(partitions.status());
  }

  LineProducer lines(options, std::move(headers), producer->get(), interrupted);
  Status status;
  for (const std::string& path : options.files) {
    status = lines.SendFile(path);
    if (!status.ok() || interrupted.load()) break;
  }
  lines.Drain();
  const ingest::ProducerCounters counters = (*producer)->counters();
  const ProduceTotals& totals = lines.totals();
  if (!options.quiet) PrintProduceSummary(options, totals, counters, lines.seconds());
  int exit_code = kExitOk;
  if (!status.ok()) {
    std::fprintf(stderr, "faultline: %s\n", status.message().c_str());
    exit_code = kExitError;
  } else if (interrupted.load()) {
    std::fprintf(stderr, "faultline: interrupted; what was read was sent, the rest was not\n");
    exit_code = kExitError;
  }
  if (totals.rejected > 0) {
    std::fprintf(stderr, "faultline: %llu line(s) not sent; last: %s\n",
                 static_cast<unsigned long long>(totals.rejected), totals.last_reject.c_str());
    exit_code = kExitError;
  }
  if (counters.failed > 0) {
    std::fprintf(stderr, "faultline: %llu message(s) failed delivery; last error: %s\n",
                 static_cast<unsigned long long>(counters.failed), counters.last_error.c_str());
    exit_code = kExitError;
  }
  if (counters.in_flight() > 0) {
    std::fprintf(stderr, "faultline: %llu message(s) still undelivered when stopped\n",
                 static_cast<unsigned long long>(counters.in_flight()));
    exit_code = kExitError;
  }
  return exit_code;
}

}  // namespace faultline::tools
