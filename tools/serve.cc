#include "tools/serve.h"

#include <algorithm>
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

#include "ingest/kafka_consumer.h"
#include "ingest/parser.h"
#include "storage/store.h"
#include "tools/internal/stages.h"

namespace faultline::tools {

namespace {

using Clock = std::chrono::steady_clock;
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
  std::vector<storage::StoredTemplate> templates;
  storage::EncodedBatch encoded;
  // The next offset of every partition in the batch.
  std::vector<ingest::PartitionOffset> next_offsets;
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

class Server : public ingest::RebalanceListener {
 public:
  Server(const ServeRequest& request, storage::Store* store, MiningState* mining)
      : request_(request), store_(store), mining_(mining) {}

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

  const ServeRequest& request_;
  storage::Store* store_;
  MiningState* mining_;
  std::unique_ptr<ingest::KafkaConsumer> consumer_;
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

};

void Server::OnAssign(std::vector<ingest::PartitionOffset>* partitions,
                      const std::vector<ingest::PartitionOffset>& committed) {
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
  // A few tries: a commit lost here means the next owner re-reads from the
  // previous commit, into its own store.
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
    pending.swap(pending_handover_);
  }
  if (pending.empty()) return;
  const Status committed = consumer_->Commit(pending, /*sync=*/true);
  if (committed.ok()) {
    Log("hand-over offsets committed after the rebalance");
  } else {
    Log(committed.message() +
        ": could not commit hand-over offsets; the partitions' next owner starts from the "
        "previous commit and may store again records this store holds");
  }
}

std::shared_ptr<ServeWork> Server::Consume(tbb::flow_control& control) {
  while (true) {
    if (StopRequested() || error_.failed()) {
      control.stop();
      return nullptr;
    }
    bool paused;
    {
      std::unique_lock lock(mu_);
      if (inflight_bytes_ > request_.max_inflight_bytes && !consumer_->paused()) {
        consumer_->PauseAll();
        ++totals_.pauses;
      } else if (consumer_->paused() && inflight_bytes_ <= request_.max_inflight_bytes / 2) {
        consumer_->ResumeAll();
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
        work->next_offsets.push_back(
            ingest::PartitionOffset{std::string(m.topic), m.partition, m.offset + 1});
      }
    }
    parser->ParseLine(m.value, static_cast<uint64_t>(m.offset), source, &batch);
    for (ingest::PartitionOffset& p : work->next_offsets) {
      if (p.partition == m.partition && p.topic == m.topic) {
        p.offset = std::max(p.offset, m.offset + 1);
      }
    }
  }
  work->messages = ingest::KafkaMessages();  // give librdkafka its buffers back
  if (mining_ == nullptr) {
    work->encoded = storage::EncodeBatch(batch, store_->options().block);
    pool_.Release(std::move(work->batch));
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
    for (const storage::EncodedBlock& block : work->encoded.blocks) records += block.record_count;
    const uint64_t dead_letters = work->encoded.dead_letters.size();
    Status written = store_->Write(std::move(work->encoded), positions);
    if (!written.ok()) {
      error_.Set(written.WithContext("store write"));
    } else {
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
  }
  written_cv_.notify_all();
}

Status Server::Run(ServeSummary* summary) {
  ingest::KafkaConsumerOptions options;
  options.brokers = request_.brokers;
  options.topics = request_.topics;
  options.group = request_.group;
  options.properties = request_.kafka_properties;
  FL_ASSIGN_OR_RETURN(consumer_, ingest::KafkaConsumer::Create(options, this));
  if (request_.on_ready) request_.on_ready(0);

  const int threads = request_.config.ingest.threads > 0
                          ? request_.config.ingest.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // A rebalance waits, inside the input stage, for the batches in flight to
  // be written: that needs a second thread even on one core.
  const int arena_threads = std::max(2, threads);
  tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism,
                                  static_cast<size_t>(arena_threads));
  tbb::enumerable_thread_specific<std::unique_ptr<ParserSet>> parsers(
      [&] { return std::make_unique<ParserSet>(request_.config); });
  tbb::task_arena arena(arena_threads);
  arena.execute([&] {
    tbb::parallel_pipeline(
        static_cast<size_t>(arena_threads) * 2,
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
                tbb::filter_mode::parallel,
                [&](std::shared_ptr<ServeWork> work) {
                  internal::EncodeStage(store_->options().block, &pool_, &error_, work.get());
                  return work;
                }) &
            tbb::make_filter<std::shared_ptr<ServeWork>, void>(
                tbb::filter_mode::serial_in_order,
                [&](std::shared_ptr<ServeWork> work) {
                  internal::Guarded(&error_, "write", [&] { Write(work.get()); });
                }));
  });
  // Leaving the group revokes the partitions: their offsets are committed
  // synchronously (everything consumed is stored by now).
  Status closed = consumer_->Close();
  if (!closed.ok()) Log(closed.message());
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
