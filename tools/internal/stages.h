// Pipeline stage parts shared by `faultline ingest` (files) and `faultline
// serve` (Kafka): batch recycling, first-error collection, and the template
// mining stage.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/record.h"
#include "core/status.h"
#include "correlate/rollup.h"
#include "ingest/template_miner.h"
#include "storage/store.h"
#include "tools/config.h"

namespace faultline::tools::internal {

// Record batches are recycled rather than rebuilt: their arena, rows and
// attributes keep their capacity, so they neither regrow (copying all they
// hold) nor fault in fresh pages for every chunk.
class BatchPool {
 public:
  std::unique_ptr<RecordBatch> Acquire() {
    std::scoped_lock lock(mu_);
    if (free_.empty()) return std::make_unique<RecordBatch>();
    std::unique_ptr<RecordBatch> batch = std::move(free_.back());
    free_.pop_back();
    return batch;
  }
  void Release(std::unique_ptr<RecordBatch> batch) {
    batch->Clear();
    std::scoped_lock lock(mu_);
    free_.push_back(std::move(batch));
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<RecordBatch>> free_;
};

// Collects the first failure from any pipeline stage.
class ErrorSlot {
 public:
  void Set(Status status) {
    std::scoped_lock lock(mu_);
    if (status_.ok()) status_ = std::move(status);
    failed_.store(true, std::memory_order_release);
  }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  Status Take() {
    std::scoped_lock lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  Status status_;
  std::atomic<bool> failed_{false};
};

// One service's share of a batch in the mining stage: its rows in input
// order and their packed parameters. Reused from batch to batch.
struct ServiceRows {
  ingest::TemplateMiner::ServiceHandle service = 0;
  std::vector<uint32_t> rows;
  ingest::PreparedMessage prepared;
  std::vector<std::string_view> params;
  // Packed parameters, appended to the batch's arena after mining:
  // appending while mining could move the arena under the prepared
  // messages, which view into it.
  std::string packed;
  std::vector<std::pair<uint32_t, StrRef>> packed_rows;  // row index, ref into `packed`
};

// The template miner of an ingest run, restored from the store's templates
// at the start, and its per-batch scratch.
struct MiningState {
  std::shared_ptr<const ingest::Masker> masker;
  std::unique_ptr<ingest::TemplateMiner> miner;
  std::vector<ServiceRows> groups;                // services of the current batch
  std::vector<int32_t> group_of;                  // service handle -> index in groups, or -1
  // Templates named by counter records since the last fold, and how many
  // batches wrote such records (see storage::TemplateUpdates).
  std::unordered_set<uint64_t> unfolded;
  size_t batches_since_fold = 0;
  std::vector<ingest::MinedTemplate> changed;   // scratch for TakeDirty
  std::vector<ingest::TemplateCounts> counted;  // scratch for TakeDirty
};

// Batches between folds of the template counter records: bounds what a
// restart reads back (a record per batch) against the cost of a fold (every
// template they name, written in full).
inline constexpr size_t kTemplateFoldBatches = 256;

// Moves what the miner changed since the last call into `out`, folding the
// counter records every kTemplateFoldBatches batches.
void TakeTemplateUpdates(MiningState* state, storage::TemplateUpdates* out);

// The miner restored from the store's templates (mining on).
Result<std::unique_ptr<MiningState>> StartMining(const Config& config, storage::Store* store);

// Gives every log row of `batch` with a message its template id and
// parameters, and appends the templates the batch created or changed to
// `out`. Ids depend only on the order of the input.
void MineBatch(MiningState* state, RecordBatch* batch, storage::TemplateUpdates* out);

// Runs `fn`, turning an exception into the pipeline's failure, named after
// its stage ("parse", "template", ...).
template <typename Fn>
void Guarded(ErrorSlot* error, const char* stage, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    error->Set(Status::Internal(std::string(stage) + " stage: " + e.what()));
  }
}

// Ingest keeps trace evidence of 1 trace in 8 (TopologyOptions::
// trace_sample): measured, every log line through the open-trace table cost
// ~10% of ingest throughput on a fleet whose every line carries a trace id.
inline constexpr uint32_t kIngestTraceSample = 8;

// The matcher of TopologyStage for an ingest run or a serve process: the
// config's [topology] options, recording calls, trace evidence sampled;
// null when rollups are off.
inline std::unique_ptr<correlate::TopologyBuilder> NewCallMatcher(const Config& config) {
  if (!config.rollups) return nullptr;
  correlate::TopologyOptions options = config.topology;
  options.record_calls = true;
  options.trace_sample = kIngestTraceSample;
  return std::make_unique<correlate::TopologyBuilder>(std::move(options));
}

// The in-order stages (serial) and the encode stage (parallel) of both
// pipelines. `Work` has `batch`, `templates`, `calls` and `encoded`.
//
// Templates are mined in order (ids depend on the order of the input).
template <typename Work>
void MineStage(MiningState* mining, ErrorSlot* error, Work* work) {
  if (error->failed() || mining == nullptr || work->batch == nullptr) return;
  Guarded(error, "template", [&] { MineBatch(mining, work->batch.get(), &work->templates); });
}

// Spans are matched to their parents across batches, in order, giving the
// calls this batch resolved (rollups on). A stage of its own, so that it
// overlaps the next batch's mining.
template <typename Work>
void TopologyStage(correlate::TopologyBuilder* topology, ErrorSlot* error, Work* work) {
  if (error->failed() || topology == nullptr || work->batch == nullptr) return;
  Guarded(error, "topology", [&] {
    topology->AddBatch(*work->batch);
    work->calls = topology->TakeCalls();
  });
}

template <typename Work>
void EncodeStage(const storage::BlockOptions& options, const correlate::RollupOptions* rollup,
                 BatchPool* pool, ErrorSlot* error, Work* work) {
  if (error->failed() || work->batch == nullptr) return;
  Guarded(error, "encode", [&] {
    work->encoded = storage::EncodeBatch(*work->batch, options);
    if (rollup != nullptr) {
      work->encoded.series = correlate::Rollup(*work->batch, *rollup);
      if (!work->calls.empty()) {
        std::vector<storage::ServiceBucket> calls = correlate::RollupCalls(work->calls, *rollup);
        work->encoded.series.insert(work->encoded.series.end(),
                                    std::make_move_iterator(calls.begin()),
                                    std::make_move_iterator(calls.end()));
        work->calls.clear();
      }
    }
    work->encoded.templates = std::move(work->templates);
    pool->Release(std::move(work->batch));
  });
}

// Resolves the calls still open in `topology` (traces, at the end of input)
// and returns their rollups, to be written.
std::vector<storage::ServiceBucket> FlushCalls(correlate::TopologyBuilder* topology,
                                               const correlate::RollupOptions& rollup);

}  // namespace faultline::tools::internal
