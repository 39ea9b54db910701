#include "tools/serve.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/parallel_pipeline.h>
#include <oneapi/tbb/task_arena.h>

#include "core/dead_letter.h"
#include "ingest/kafka_consumer.h"
#include "ingest/kafka_producer.h"
#include "ingest/parser.h"
#include "storage/store.h"
#include "core/json_writer.h"
#include "tools/http_server.h"
#include "tools/incident_watch.h"
#include "tools/internal/stages.h"
#include "tools/metrics.h"

namespace faultline::tools {

namespace {

using Clock = std::chrono::steady_clock;

// How long a member taking over partitions waits for their previous owner's
// hand-over commit (see RetryHandover).
constexpr int kTakeoverGraceMs = 2000;
using internal::BatchPool;
using internal::ErrorSlot;
using internal::MiningState;

std::string PositionKey(std::string_view topic, int32_t partition) {
  std::string key = "kafka:";
  key.append(topic);
  key.push_back(':');
  key += std::to_string(partition);
  return key;
}

std::string PartitionName(std::string_view topic, int32_t partition) {
  return std::string(topic) + "[" + std::to_string(partition) + "]";
}

// One batch of consumed messages on its way to the store.
struct ServeWork {
  ingest::KafkaMessages messages;
  uint64_t bytes = 0;
  size_t message_count = 0;
  Clock::time_point polled_at;
  std::unique_ptr<RecordBatch> batch;
  storage::TemplateUpdates templates;
  std::vector<correlate::Call> calls;  // cross-service calls this batch resolved
  storage::EncodedBatch encoded;
  // The next offset of every partition in the batch.
  std::vector<ingest::PartitionOffset> next_offsets;
  // Kafka timestamps (ms since the epoch; set by the producer when it was
  // handed the message), for the produce-to-stored latency.
  std::vector<int64_t> timestamps_ms;
};

// Parsers per worker thread and topic. A topic's parser options are the
// config's for that topic name: a [[sources]] entry whose match fits the
// topic applies (its service, line format, time layout), and a record that
// names no service otherwise gets the topic's name.
class ParserSet {
 public:
  explicit ParserSet(const Config& config) : config_(config) {}
  ingest::LineParser* For(std::string_view topic) {
    if (!last_topic_.empty() && topic == last_topic_) return last_;
    auto it = parsers_.find(topic);
    if (it == parsers_.end()) {
      // LineParser keeps a reference to its options; they live beside it.
      auto entry = std::make_unique<Entry>();
      entry->options = config_.ParserOptionsFor(std::string(topic), std::string(topic));
      entry->parser = std::make_unique<ingest::LineParser>(entry->options);
      it = parsers_.emplace(std::string(topic), std::move(entry)).first;
    }
    last_topic_.assign(topic);
    last_ = it->second->parser.get();
    return last_;
  }

 private:
  struct Entry {
    ingest::ParserOptions options;
    std::unique_ptr<ingest::LineParser> parser;
  };
  const Config& config_;
  std::map<std::string, std::unique_ptr<Entry>, std::less<>> parsers_;
  std::string last_topic_;
  ingest::LineParser* last_ = nullptr;
};

// What /metrics shows. Counters are bumped by the write stage, after the
// store write they count succeeded; callback gauges are read at scrape time.
struct ServeMetrics {
  metrics::Counter* messages_in = nullptr;
  metrics::Counter* bytes_in = nullptr;
  metrics::Counter* records_stored = nullptr;
  metrics::Counter* batches = nullptr;
  metrics::Counter* pauses = nullptr;
  metrics::Counter* dead_letter_topic_sent = nullptr;
  metrics::Family<metrics::Counter>* dead_letters = nullptr;  // by reason
  metrics::Histogram* batch_seconds = nullptr;  // polled -> stored
  metrics::Histogram* produce_to_stored = nullptr;  // Kafka timestamp -> stored
  metrics::Gauge* inflight_bytes = nullptr;
  metrics::Gauge* paused = nullptr;
};

class Server : public ingest::RebalanceListener {
 public:
  Server(const ServeRequest& request, storage::Store* store, MiningState* mining)
      : request_(request),
        store_(store),
        mining_(mining),
        topology_(internal::NewCallMatcher(request.config)) {}

  Status Run(ServeSummary* summary);

  void OnAssign(std::vector<ingest::PartitionOffset>* partitions,
                const std::vector<ingest::PartitionOffset>& committed) override;
  void OnRevoke(const std::vector<ingest::TopicPartition>& partitions) override;

 private:
  void Log(const std::string& line) const {
    if (request_.log) {
      request_.log(line);
    } else {
      std::fprintf(stderr, "faultline serve: %s\n", line.c_str());
    }
  }
  bool StopRequested() const {
    return request_.stop != nullptr && request_.stop->load(std::memory_order_relaxed);
  }
  std::shared_ptr<ServeWork> Consume(tbb::flow_control& control);
  void Parse(ServeWork* work, ParserSet* parsers);
  void Write(ServeWork* work);
  // Commits hand-over offsets the broker refused mid-rebalance; called on
  // the next assignment, when this member is back in the group.
  void RetryHandover();
  // Blocks until every batch handed to the pipeline is written (or the
  // pipeline failed).
  void WaitForWrites();

  // Registers the metrics and starts the HTTP endpoint (when an address is
  // given); needs consumer_ (lag).
  Status StartHttp();
  // GET /api/incidents (newest first, ?limit=N) and /api/incidents/ID.
  Status AddIncidentRoutes();
  // Sends the batch's dead letters to --dead-letter-topic.
  void SendDeadLetters(const std::vector<DeadLetter>& dead_letters);
  const correlate::RollupOptions* rollup() const {
    return request_.config.rollups ? &request_.config.rollup : nullptr;
  }

  const ServeRequest& request_;
  storage::Store* store_;
  MiningState* mining_;
  // Matches spans to their parents across batches for the call-edge
  // rollups (in order, in the serial stage); null with rollups off.
  std::unique_ptr<correlate::TopologyBuilder> topology_;
  std::unique_ptr<ingest::KafkaConsumer> consumer_;
  std::unique_ptr<ingest::KafkaProducer> dead_letter_producer_;
  // Declared after consumer_ so that it stops first: scrapes read the lag.
  metrics::Registry registry_;
  ServeMetrics metrics_;
  std::unique_ptr<ingest::KafkaProducer> incidents_producer_;
  // Incidents on event time; stopped before the HTTP server that reads it.
  std::unique_ptr<IncidentWatch> incidents_;
  std::unique_ptr<HttpServer> http_;
  std::atomic<bool> assigned_once_{false};
  ErrorSlot error_;
  BatchPool pool_;

  std::mutex mu_;
  std::condition_variable written_cv_;
  uint64_t emitted_ = 0;  // batches handed to the pipeline
  uint64_t written_ = 0;  // batches done with (stored, or dropped after a failure)
  uint64_t inflight_bytes_ = 0;
  // Next offset stored, per partition (guarded by mu_).
  std::map<std::pair<std::string, int32_t>, int64_t> stored_next_;

  ServeSummary totals_;  // written by the write stage only
  // Hand-over commits the broker refused during a rebalance (guarded by mu_).
  std::vector<ingest::PartitionOffset> pending_handover_;
  Clock::time_point handover_deadline_{};
  Clock::time_point next_handover_try_{};

};

void Server::OnAssign(std::vector<ingest::PartitionOffset>* partitions,
                      const std::vector<ingest::PartitionOffset>& committed) {
  {
    // Back in the group: the new owners of partitions this member gave up
    // were assigned at the same moment and read their offsets after a grace.
    std::scoped_lock lock(mu_);
    if (!pending_handover_.empty()) {
      handover_deadline_ = Clock::now() + std::chrono::milliseconds(kTakeoverGraceMs);
      next_handover_try_ = Clock::time_point{};
    }
  }
  RetryHandover();
  std::string line = "assigned";
  for (size_t i = 0; i < partitions->size(); ++i) {
    ingest::PartitionOffset& p = (*partitions)[i];
    Result<std::optional<storage::SourcePosition>> stored =
        store_->GetPosition(PositionKey(p.topic, p.partition));
    if (!stored.ok()) {
      error_.Set(stored.status().WithContext("reading the position of " +
                                             PartitionName(p.topic, p.partition)));
      return;
    }
    const int64_t store_offset =
        stored->has_value() ? static_cast<int64_t>((*stored)->offset) : ingest::kOffsetUnset;
    const int64_t group_offset = i < committed.size() ? committed[i].offset : ingest::kOffsetUnset;
    std::string from;
    if (group_offset > store_offset) {
      // faultline commits only after storing: another member of the group
      // stored everything before group_offset.
      p.offset = group_offset;
      from = store_offset < 0 ? "group offset" : "group offset, ahead of this store's " +
                                                     std::to_string(store_offset);
    } else if (store_offset >= 0) {
      p.offset = store_offset;
      from = "store";
    } else {
      p.offset = ingest::kOffsetUnset;
      from = "beginning";
    }
    line += " " + PartitionName(p.topic, p.partition) + "@" +
            (p.offset >= 0 ? std::to_string(p.offset) : std::string("start")) + " (" + from +
            ")";
  }
  Log(line);
  assigned_once_.store(true, std::memory_order_release);
}

void Server::WaitForWrites() {
  std::unique_lock lock(mu_);
  written_cv_.wait(lock, [&] { return written_ == emitted_ || error_.failed(); });
}

void Server::OnRevoke(const std::vector<ingest::TopicPartition>& partitions) {
  WaitForWrites();
  std::vector<ingest::PartitionOffset> offsets;
  {
    std::scoped_lock lock(mu_);
    for (const ingest::TopicPartition& tp : partitions) {
      auto it = stored_next_.find({tp.topic, tp.partition});
      if (it == stored_next_.end()) continue;
      offsets.push_back(ingest::PartitionOffset{tp.topic, tp.partition, it->second});
      stored_next_.erase(it);
    }
  }
  // The next owner starts at these (or at its own store's, if further on).
  // A commit lost here means the next owner re-reads from the previous
  // commit, into its own store.
  // A broker may refuse commits while the group rebalances (librdkafka's
  // mock broker does, where Kafka accepts them): then they are made on the
  // next assignment, when this member is back in the group, and the new
  // owner waits a grace period (KafkaConsumerOptions::takeover_grace_ms)
  // before reading them.
  Status committed = consumer_->Commit(offsets, /*sync=*/true);
  if (!committed.ok()) {
    Log(committed.message() + " while giving partitions up; retrying once back in the group");
    std::scoped_lock lock(mu_);
    for (const ingest::PartitionOffset& p : offsets) pending_handover_.push_back(p);
    // Retried on the next assignment (when this member is back in the
    // group), then while consuming until the new owner's grace runs out.
    handover_deadline_ = Clock::time_point::max();
    next_handover_try_ = Clock::time_point{};
  }
  std::string line = "revoked";
  for (const ingest::TopicPartition& tp : partitions) {
    line += " " + PartitionName(tp.topic, tp.partition);
  }
  Log(line + (error_.failed() ? " (after a failure: nothing past the last write is committed)"
                              : " (all consumed records stored)"));
}

void Server::RetryHandover() {
  std::vector<ingest::PartitionOffset> pending;
  {
    std::scoped_lock lock(mu_);
    // Not before the next assignment: librdkafka holds the group re-join
    // back while a commit is in flight.
    if (pending_handover_.empty() || handover_deadline_ == Clock::time_point::max() ||
        Clock::now() < next_handover_try_) {
      return;
    }
    pending = pending_handover_;
    next_handover_try_ = Clock::now() + std::chrono::milliseconds(100);
  }
  const Status committed = consumer_->Commit(pending, /*sync=*/true);
  std::scoped_lock lock(mu_);
  if (committed.ok()) {
    Log("hand-over offsets committed after the rebalance");
    pending_handover_.clear();
  } else if (Clock::now() >= handover_deadline_) {
    // Past the new owner's grace: a commit now could move its offsets back.
    Log(committed.message() +
        ": could not commit hand-over offsets in time; the partitions' next owner starts from "
        "the previous commit and may store again records this store holds");
    pending_handover_.clear();
  }
}

std::shared_ptr<ServeWork> Server::Consume(tbb::flow_control& control) {
  while (true) {
    if (StopRequested() || error_.failed()) {
      control.stop();
      return nullptr;
    }
    RetryHandover();
    bool paused;
    {
      std::unique_lock lock(mu_);
      if (inflight_bytes_ > request_.max_inflight_bytes && !consumer_->paused()) {
        consumer_->PauseAll();
        ++totals_.pauses;
        metrics_.pauses->Increment();
        metrics_.paused->Set(1);
      } else if (consumer_->paused() && inflight_bytes_ <= request_.max_inflight_bytes / 2) {
        consumer_->ResumeAll();
        metrics_.paused->Set(0);
      }
      paused = consumer_->paused();
      if (paused) {
        // Wait for the writer, then poll anyway: rebalances and group
        // heartbeats are served in Poll.
        written_cv_.wait_for(lock, std::chrono::milliseconds(100));
      }
    }
    Result<ingest::KafkaMessages> polled = consumer_->Poll(
        request_.batch_max_messages, request_.batch_max_bytes, paused ? 0 : request_.batch_wait_ms);
    if (!polled.ok()) {
      error_.Set(polled.status());
      control.stop();
      return nullptr;
    }
    if (polled->empty()) continue;
    auto work = std::make_shared<ServeWork>();
    work->messages = std::move(polled).value();
    work->bytes = work->messages.bytes();
    work->message_count = work->messages.size();
    work->polled_at = Clock::now();
    std::scoped_lock lock(mu_);
    ++emitted_;
    inflight_bytes_ += work->bytes;
    metrics_.inflight_bytes->Set(static_cast<int64_t>(inflight_bytes_));
    metrics_.messages_in->Increment(work->message_count);
    metrics_.bytes_in->Increment(work->bytes);
    return work;
  }
}

void Server::Parse(ServeWork* work, ParserSet* parsers) {
  work->batch = pool_.Acquire();
  RecordBatch& batch = *work->batch;
  std::string_view last_topic;
  int32_t last_partition = -1;
  uint32_t source = 0;
  ingest::LineParser* parser = nullptr;
  ingest::PartitionOffset* next = nullptr;  // the current partition's entry
  for (size_t i = 0; i < work->messages.size(); ++i) {
    const ingest::KafkaMessage m = work->messages[i];
    if (m.topic != last_topic || m.partition != last_partition) {
      source = batch.AddSource(std::string(m.topic), m.partition);
      parser = parsers->For(m.topic);
      last_topic = m.topic;
      last_partition = m.partition;
      auto it = std::find_if(work->next_offsets.begin(), work->next_offsets.end(),
                             [&](const ingest::PartitionOffset& p) {
                               return p.partition == m.partition && p.topic == m.topic;
                             });
      if (it == work->next_offsets.end()) {
        it = work->next_offsets.insert(
            work->next_offsets.end(),
            ingest::PartitionOffset{std::string(m.topic), m.partition, m.offset + 1});
      }
      next = &*it;
    }
    parser->ParseLine(m.value, static_cast<uint64_t>(m.offset), source, &batch);
    if (m.timestamp_ms >= 0) work->timestamps_ms.push_back(m.timestamp_ms);
    next->offset = std::max(next->offset, m.offset + 1);
  }
  work->messages = ingest::KafkaMessages();  // give librdkafka its buffers back
  if (mining_ == nullptr && topology_ == nullptr) {
    // Nothing to do in order between parsing and encoding: encode now,
    // while the batch is in this thread's cache.
    internal::EncodeStage(store_->options().block, rollup(), &pool_, &error_, work);
  }
}

void Server::Write(ServeWork* work) {
  if (!error_.failed()) {
    std::vector<storage::SourcePosition> positions;
    for (const ingest::PartitionOffset& p : work->next_offsets) {
      storage::SourcePosition position;
      position.key = PositionKey(p.topic, p.partition);
      position.offset = static_cast<uint64_t>(p.offset);
      position.description = PartitionName(p.topic, p.partition);
      positions.push_back(std::move(position));
    }
    uint64_t records = 0;
    int64_t newest = INT64_MIN;
    for (const storage::EncodedBlock& block : work->encoded.blocks) {
      records += block.record_count;
      newest = std::max(newest, block.max_ts_ns);
    }
    const uint64_t dead_letters = work->encoded.dead_letters.size();
    std::vector<DeadLetter> dead_letter_copies;
    if (dead_letter_producer_ != nullptr) dead_letter_copies = work->encoded.dead_letters;
    std::array<uint64_t, kRejectReasonCount> by_reason{};
    for (const DeadLetter& dl : work->encoded.dead_letters) {
      ++by_reason[static_cast<size_t>(dl.reason)];
    }
    Status written = store_->Write(std::move(work->encoded), positions);
    if (!written.ok()) {
      error_.Set(written.WithContext("store write"));
    } else {
      metrics_.records_stored->Increment(records);
      metrics_.batches->Increment();
      if (incidents_ != nullptr && newest != INT64_MIN) incidents_->ObserveEventTime(newest);
      for (size_t r = 0; r < by_reason.size(); ++r) {
        if (by_reason[r] == 0) continue;
        metrics_.dead_letters
            ->WithLabels({RejectReasonName(static_cast<RejectReason>(r))})
            ->Increment(by_reason[r]);
      }
      metrics_.batch_seconds->Observe(
          std::chrono::duration<double>(Clock::now() - work->polled_at).count());
      // Searchable from here on: a search opened now sees these records.
      const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
      for (const int64_t ts : work->timestamps_ms) {
        metrics_.produce_to_stored->Observe(static_cast<double>(now_ms - ts) / 1000.0);
      }
      // After the store write: a dead letter is in the store before it is
      // announced, and a restart re-sends at most the last batch's.
      if (!dead_letter_copies.empty()) SendDeadLetters(dead_letter_copies);
      totals_.messages += work->message_count;
      totals_.records += records;
      totals_.dead_letters += dead_letters;
      ++totals_.batches;
      {
        std::scoped_lock lock(mu_);
        for (const ingest::PartitionOffset& p : work->next_offsets) {
          stored_next_[{p.topic, p.partition}] = p.offset;
        }
      }
      // For lag tools and the next owner of a partition; the store's own
      // positions stay the truth for this store.
      Status committed = consumer_->Commit(work->next_offsets, /*sync=*/false);
      if (!committed.ok()) Log(committed.message());
    }
  }
  {
    std::scoped_lock lock(mu_);
    ++written_;
    inflight_bytes_ -= work->bytes;
    metrics_.inflight_bytes->Set(static_cast<int64_t>(inflight_bytes_));
  }
  written_cv_.notify_all();
}

void Server::SendDeadLetters(const std::vector<DeadLetter>& dead_letters) {
  for (const DeadLetter& dl : dead_letters) {
    const ingest::KeyValues headers = {
        {"faultline.reason", std::string(RejectReasonName(dl.reason))},
        {"faultline.detail", dl.detail},
        {"faultline.source", dl.source},
        {"faultline.partition", std::to_string(dl.partition)},
        {"faultline.offset", std::to_string(dl.offset)},
    };
    Status sent = dead_letter_producer_->Produce(request_.dead_letter_topic, dl.source, dl.raw,
                                                 headers);
    if (sent.ok()) {
      metrics_.dead_letter_topic_sent->Increment();
    } else {
      // The store holds it; the topic is a convenience.
      Log("dead-letter topic: " + sent.message() + " (kept in the store)");
    }
  }
  dead_letter_producer_->Poll(0);
}

Status Server::StartHttp() {
  auto counter = [&](const char* name, const char* help) -> Result<metrics::Counter*> {
    return registry_.AddCounter(name, help);
  };
  FL_ASSIGN_OR_RETURN(metrics_.messages_in,
                      counter("faultline_kafka_messages_total", "Kafka messages consumed."));
  FL_ASSIGN_OR_RETURN(metrics_.bytes_in,
                      counter("faultline_kafka_bytes_total", "Bytes of Kafka messages consumed."));
  FL_ASSIGN_OR_RETURN(metrics_.records_stored,
                      counter("faultline_records_stored_total",
                              "Records written to the store (with their source positions)."));
  FL_ASSIGN_OR_RETURN(metrics_.batches,
                      counter("faultline_batches_stored_total", "Pipeline batches written."));
  FL_ASSIGN_OR_RETURN(metrics_.pauses,
                      counter("faultline_consumer_pauses_total",
                              "Times consumption paused because the writer fell behind."));
  FL_ASSIGN_OR_RETURN(metrics_.dead_letter_topic_sent,
                      counter("faultline_dead_letter_topic_messages_total",
                              "Dead letters handed to the --dead-letter-topic producer."));
  FL_ASSIGN_OR_RETURN(metrics_.dead_letters,
                      registry_.AddCounterFamily("faultline_dead_letters_total",
                                                 "Rejected input lines, by reason.", {"reason"}));
  FL_ASSIGN_OR_RETURN(
      metrics_.batch_seconds,
      registry_.AddHistogram("faultline_batch_seconds",
                             "Time from a batch's poll to its store write, seconds.",
                             {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}));
  FL_ASSIGN_OR_RETURN(
      metrics_.produce_to_stored,
      registry_.AddHistogram(
          "faultline_produce_to_stored_seconds",
          "Time from a record's Kafka timestamp (when it was produced) to its store write, "
          "after which searches see it; seconds, per record.",
          {0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60}));
  FL_ASSIGN_OR_RETURN(metrics_.inflight_bytes,
                      registry_.AddGauge("faultline_inflight_bytes",
                                         "Bytes consumed and not yet stored."));
  FL_ASSIGN_OR_RETURN(metrics_.paused,
                      registry_.AddGauge("faultline_consumer_paused",
                                         "1 while consumption is paused for backpressure."));
  FL_RETURN_IF_ERROR(registry_.AddCallbackGaugeFamily(
      "faultline_consumer_lag", "Messages behind the partition's high watermark.",
      {"topic", "partition"}, [this] {
        std::vector<metrics::CallbackSample> samples;
        for (const ingest::PartitionLag& lag : consumer_->Lag()) {
          if (lag.high_watermark < 0) continue;
          samples.push_back(metrics::CallbackSample{
              {lag.topic, std::to_string(lag.partition)}, static_cast<double>(lag.lag)});
        }
        return samples;
      }));
  FL_RETURN_IF_ERROR(registry_.AddCallbackGaugeFamily(
      "faultline_stored_offset",
      "Next offset of the partition not yet in the store: where a restart resumes.",
      {"topic", "partition"}, [this] {
        std::vector<metrics::CallbackSample> samples;
        std::scoped_lock lock(mu_);
        for (const auto& [tp, offset] : stored_next_) {
          samples.push_back(metrics::CallbackSample{{tp.first, std::to_string(tp.second)},
                                                    static_cast<double>(offset)});
        }
        return samples;
      }));
  FL_RETURN_IF_ERROR(registry_.AddCallbackGauge(
      "faultline_consumer_partitions", "Partitions assigned to this member.",
      [this] { return static_cast<double>(consumer_->Assignment().size()); }));
  FL_RETURN_IF_ERROR(registry_.AddCallbackGauge(
      "faultline_kafka_client_errors", "Transient Kafka client errors seen (retried).",
      [this] { return static_cast<double>(consumer_->transient_errors()); }));
  FL_RETURN_IF_ERROR(registry_.AddCallbackGauge(
      "faultline_store_bytes", "Size of the store's files on disk.",
      [this] { return static_cast<double>(storage::DiskBytes(request_.db_dir)); }));
  if (incidents_ != nullptr) {
    FL_RETURN_IF_ERROR(registry_.AddCallbackGauge(
        "faultline_incident_passes", "Incident passes made (one per interval of event time).",
        [this] { return static_cast<double>(incidents_->passes()); }));
    FL_RETURN_IF_ERROR(registry_.AddCallbackGauge(
        "faultline_incident_watermark_seconds",
        "Event time (Unix seconds) up to which incidents have been computed; 0 before the "
        "first pass.",
        [this] {
          const int64_t w = incidents_->pass_watermark_ns();
          return w == INT64_MIN ? 0.0 : static_cast<double>(w) / 1e9;
        }));
  }
  if (request_.metrics_addr.empty()) return Status::Ok();

  HttpServerOptions options;
  options.address = request_.metrics_addr;
  options.address_name = "--metrics-addr";
  http_ = std::make_unique<HttpServer>(options, &registry_);
  http_->SetReadinessCheck([this] {
    if (error_.failed()) return Readiness{false, "failed: " + error_.Take().message()};
    if (!assigned_once_.load(std::memory_order_acquire)) {
      return Readiness{false, "waiting for the consumer group to assign partitions"};
    }
    return Readiness{true, ""};
  });
  if (incidents_ != nullptr) FL_RETURN_IF_ERROR(AddIncidentRoutes());
  FL_RETURN_IF_ERROR(http_->Start());
  Log("metrics: http://" + request_.metrics_addr.substr(0, request_.metrics_addr.rfind(':')) +
      ":" + std::to_string(http_->port()) + "/metrics");
  return Status::Ok();
}

Status Server::AddIncidentRoutes() {
  auto json = [](int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.content_type = "application/json";
    r.body = std::move(body);
    return r;
  };
  auto failed = [json](const Status& s) {
    std::string body = "{\"error\":";
    AppendJsonString(&body, s.message());
    return json(s.code() == StatusCode::kNotFound ? 404 : 500, body + "}\n");
  };
  FL_RETURN_IF_ERROR(http_->AddGetRoute("/api/incidents", [this, json, failed](
                                                              const HttpRequest& request) {
    size_t limit = 100;
    auto it = request.query.find("limit");
    if (it != request.query.end()) limit = std::strtoul(it->second.c_str(), nullptr, 10);
    Result<std::string> list = incidents_->ListJson(std::max<size_t>(limit, 1));
    return list.ok() ? json(200, *list + "\n") : failed(list.status());
  }));
  return http_->AddGetPrefixRoute(
      "/api/incidents/", [this, json, failed](const HttpRequest& request) {
        Result<std::string> one = incidents_->GetJson(request.path_suffix);
        return one.ok() ? json(200, *one + "\n") : failed(one.status());
      });
}

Status Server::Run(ServeSummary* summary) {
  ingest::KafkaConsumerOptions options;
  options.brokers = request_.brokers;
  options.topics = request_.topics;
  options.group = request_.group;
  options.properties = request_.config.kafka_properties;
  options.takeover_grace_ms = kTakeoverGraceMs;
  FL_ASSIGN_OR_RETURN(consumer_, ingest::KafkaConsumer::Create(options, this));
  if (!request_.dead_letter_topic.empty()) {
    ingest::ProducerOptions producer_options;
    producer_options.bootstrap_servers = request_.brokers;
    producer_options.properties = {{"linger.ms", "20"}};
    producer_options.interrupted = request_.stop;
    FL_ASSIGN_OR_RETURN(dead_letter_producer_, ingest::KafkaProducer::Create(producer_options));
  }
  if (request_.incidents) {
    IncidentWatchOptions watch;
    watch.db_dir = request_.db_dir;
    watch.interval_ms = request_.incidents_interval_ms > 0
                            ? request_.incidents_interval_ms
                            : static_cast<int>(request_.config.incidents_interval_ns / 1'000'000);
    watch.correlate = request_.config.correlate;
    watch.lookback_ns = request_.config.incidents_lookback_ns;
    watch.lateness_ns = request_.config.incidents_lateness_ns;
    watch.max_catch_up_ns = request_.config.incidents_catch_up_ns;
    watch.signal_rules = request_.config.signal_rules;
    watch.topology_edges = request_.config.topology_edges;
    watch.log = [this](const std::string& line) { Log(line); };
    if (!request_.incidents_topic.empty()) {
      ingest::ProducerOptions producer_options;
      producer_options.bootstrap_servers = request_.brokers;
      producer_options.properties = {{"linger.ms", "20"}};
      producer_options.interrupted = request_.stop;
      FL_ASSIGN_OR_RETURN(incidents_producer_, ingest::KafkaProducer::Create(producer_options));
      watch.publish = [this](const std::string& id, const std::string& body) {
        Status sent = incidents_producer_->Produce(request_.incidents_topic, id, body, {});
        if (!sent.ok()) Log("incidents topic: " + sent.message() + " (kept in the store)");
        incidents_producer_->Poll(0);
      };
    }
    incidents_ = std::make_unique<IncidentWatch>(std::move(watch), store_);
  }
  FL_RETURN_IF_ERROR(StartHttp());
  if (incidents_ != nullptr) FL_RETURN_IF_ERROR(incidents_->Start());
  if (request_.on_ready) request_.on_ready(http_ != nullptr ? http_->port() : 0);

  const int threads = WorkerThreads(request_.config.ingest.threads);
  // A rebalance waits, inside the input stage, for the batches in flight to
  // be written: that needs a second thread even on one core.
  const int arena_threads = std::max(2, threads);
  tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                  static_cast<size_t>(arena_threads));
  tbb::enumerable_thread_specific<std::unique_ptr<ParserSet>> parsers(
      [&] { return std::make_unique<ParserSet>(request_.config); });
  tbb::task_arena arena(arena_threads);
  arena.execute([&] {
    // Batches in flight: one per thread plus the one being polled. More only
    // queue: a record's wait from poll to store grows with them (measured:
    // 2 per thread cut bench/stream's rate ~5% against this).
    tbb::parallel_pipeline(
        static_cast<size_t>(arena_threads) + 1,
        tbb::make_filter<void, std::shared_ptr<ServeWork>>(
            tbb::filter_mode::serial_in_order,
            [&](tbb::flow_control& control) { return Consume(control); }) &
            tbb::make_filter<std::shared_ptr<ServeWork>, std::shared_ptr<ServeWork>>(
                tbb::filter_mode::parallel,
                [&](std::shared_ptr<ServeWork> work) {
                  if (error_.failed()) return work;
                  internal::Guarded(&error_, "parse",
                                    [&] { Parse(work.get(), parsers.local().get()); });
                  return work;
                }) &
            tbb::make_filter<std::shared_ptr<ServeWork>, std::shared_ptr<ServeWork>>(
                tbb::filter_mode::serial_in_order,
                [&](std::shared_ptr<ServeWork> work) {
                  internal::MineStage(mining_, &error_, work.get());
                  return work;
                }) &
            tbb::make_filter<std::shared_ptr<ServeWork>, std::shared_ptr<ServeWork>>(
                tbb::filter_mode::serial_in_order,
                [&](std::shared_ptr<ServeWork> work) {
                  internal::TopologyStage(topology_.get(), &error_, work.get());
                  return work;
                }) &
            tbb::make_filter<std::shared_ptr<ServeWork>, std::shared_ptr<ServeWork>>(
                tbb::filter_mode::parallel,
                [&](std::shared_ptr<ServeWork> work) {
                  internal::EncodeStage(store_->options().block, rollup(), &pool_, &error_,
                                        work.get());
                  return work;
                }) &
            tbb::make_filter<std::shared_ptr<ServeWork>, void>(
                tbb::filter_mode::serial_in_order,
                [&](std::shared_ptr<ServeWork> work) {
                  internal::Guarded(&error_, "write", [&] { Write(work.get()); });
                }));
  });
  // Traces still open are resolved and their calls stored.
  if (topology_ != nullptr && !error_.failed()) {
    storage::EncodedBatch last;
    last.series = internal::FlushCalls(topology_.get(), request_.config.rollup);
    if (!last.series.empty()) {
      Status flushed = store_->Write(std::move(last), {});
      if (!flushed.ok()) Log("call edges: " + flushed.message());
    }
  }
  // Leaving the group revokes the partitions: their offsets are committed
  // synchronously (everything consumed is stored by now).
  Status closed = consumer_->Close();
  if (!closed.ok()) Log(closed.message());
  if (dead_letter_producer_ != nullptr) {
    Status flushed = dead_letter_producer_->Flush(5000);
    if (!flushed.ok()) Log("dead-letter topic: " + flushed.message());
  }
  if (incidents_ != nullptr) incidents_->Stop();
  if (incidents_producer_ != nullptr) {
    Status flushed = incidents_producer_->Flush(5000);
    if (!flushed.ok()) Log("incidents topic: " + flushed.message());
  }
  if (http_ != nullptr) http_->Stop();
  *summary = totals_;
  return error_.Take();
}

}  // namespace

Result<ServeSummary> RunServe(const ServeRequest& request) {
  if (request.brokers.empty()) return Status::InvalidArgument("serve: --brokers is required");
  if (request.topics.empty()) return Status::InvalidArgument("serve: --topic is required");
  const auto start = Clock::now();
  FL_ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store,
                      storage::Store::Open(request.db_dir, request.config.store));
  std::unique_ptr<MiningState> mining;
  if (request.config.mine_templates) {
    FL_ASSIGN_OR_RETURN(mining, internal::StartMining(request.config, store.get()));
  }
  Server server(request, store.get(), mining.get());
  ServeSummary summary;
  Status status = server.Run(&summary);
  summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  FL_RETURN_IF_ERROR(status);
  return summary;
}

}  // namespace faultline::tools
