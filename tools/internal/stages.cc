#include "tools/internal/stages.h"

#include <algorithm>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>

namespace faultline::tools::internal {

Result<std::unique_ptr<MiningState>> StartMining(const Config& config, storage::Store* store) {
  auto state = std::make_unique<MiningState>();
  FL_ASSIGN_OR_RETURN(state->masker, ingest::CompileMasker(config.miner));
  state->miner = std::make_unique<ingest::TemplateMiner>(config.miner, state->masker);
  FL_ASSIGN_OR_RETURN(std::vector<storage::StoredTemplate> stored, store->LoadTemplates());
  std::vector<ingest::MinedTemplate> restored;
  restored.reserve(stored.size());
  for (storage::StoredTemplate& t : stored) {
    restored.push_back(ingest::MinedTemplate{t.id, std::move(t.service), std::move(t.text),
                                             t.count, t.first_seen_ns, t.last_seen_ns,
                                             std::move(t.example)});
  }
  state->miner->Restore(restored);
  // Counter records a previous run left unfolded name templates this run
  // does not know to fold: the first fold, at the first batch, covers all.
  for (const ingest::MinedTemplate& t : restored) state->unfolded.insert(t.id);
  if (!restored.empty()) state->batches_since_fold = kTemplateFoldBatches - 1;
  return state;
}

// Gives every log row with a message its template id and parameters, and
// collects the templates the batch changed. Rows are grouped by service;
// services are mined in parallel, each over its own rows in input order, so
// ids depend only on the order of the input. Each message is prepared
// (tokenized and masked) right before it is mined: preparing all rows
// first, in parallel over rows, then mining them, left the prepared
// messages out of cache and cost more than it saved.
void MineBatch(MiningState* state, RecordBatch* batch, storage::TemplateUpdates* out) {
  std::vector<RecordRow>& rows = batch->mutable_rows();
  auto minable = [&](const RecordRow& row) {
    return row.kind == RecordKind::kLog && row.message.size > 0;
  };

  // Services are registered in input order (that fixes their id prefixes),
  // and their rows grouped.
  size_t used = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!minable(rows[i])) continue;
    const ingest::TemplateMiner::ServiceHandle service =
        state->miner->ServiceOf(batch->Get(rows[i].service));
    if (state->group_of.size() <= service) state->group_of.resize(service + 1, -1);
    int32_t& group = state->group_of[service];
    if (group < 0) {
      if (state->groups.size() <= used) state->groups.emplace_back();
      group = static_cast<int32_t>(used++);
      state->groups[static_cast<size_t>(group)].service = service;
    }
    state->groups[static_cast<size_t>(group)].rows.push_back(static_cast<uint32_t>(i));
  }

  tbb::parallel_for(tbb::blocked_range<size_t>(0, used, 1), [&](const tbb::blocked_range<size_t>&
                                                                    range) {
    for (size_t g = range.begin(); g < range.end(); ++g) {
      ServiceRows& group = state->groups[g];
      for (uint32_t i : group.rows) {
        RecordRow& row = rows[i];
        ingest::TemplateMiner::Prepare(*state->masker, batch->Get(row.message), &group.prepared);
        group.params.clear();
        row.template_id =
            state->miner->Mine(group.service, group.prepared, row.ts_ns, &group.params);
        if (group.params.empty()) continue;
        const auto begin = static_cast<uint32_t>(group.packed.size());
        for (std::string_view param : group.params) PackParam(param, &group.packed);
        group.packed_rows.emplace_back(
            i, StrRef{begin, static_cast<uint32_t>(group.packed.size() - begin)});
      }
    }
  });

  for (size_t g = 0; g < used; ++g) {
    ServiceRows& group = state->groups[g];
    const uint32_t base = batch->ArenaSize();
    batch->AppendToArena(group.packed);
    for (const auto& [index, ref] : group.packed_rows) {
      rows[index].params = StrRef{base + ref.offset, ref.size};
    }
    state->group_of[group.service] = -1;
    group.rows.clear();
    group.packed.clear();
    group.packed_rows.clear();
  }
  TakeTemplateUpdates(state, out);
}

void TakeTemplateUpdates(MiningState* state, storage::TemplateUpdates* out) {
  auto full = [&](ingest::MinedTemplate t) {
    out->full.push_back(storage::StoredTemplate{t.id, std::move(t.service), std::move(t.text),
                                                t.count, t.first_seen_ns, t.last_seen_ns,
                                                std::move(t.example)});
  };
  state->changed.clear();
  state->counted.clear();
  state->miner->TakeDirty(&state->changed, &state->counted);
  for (ingest::MinedTemplate& t : state->changed) {
    // Written in full now, after any counter record of it.
    state->unfolded.erase(t.id);
    full(std::move(t));
  }
  if (state->counted.empty()) return;
  for (const ingest::TemplateCounts& c : state->counted) state->unfolded.insert(c.id);
  if (++state->batches_since_fold < kTemplateFoldBatches) {
    for (const ingest::TemplateCounts& c : state->counted) {
      out->counts.push_back(
          storage::TemplateCount{c.id, c.count, c.first_seen_ns, c.last_seen_ns});
    }
    return;
  }
  // Fold: every template the records name, in full, as of this batch.
  std::vector<uint64_t> ids(state->unfolded.begin(), state->unfolded.end());
  std::sort(ids.begin(), ids.end());
  for (uint64_t id : ids) {
    if (const ingest::MinedTemplate* t = state->miner->Find(id)) full(*t);
  }
  out->fold = true;
  state->unfolded.clear();
  state->batches_since_fold = 0;
}

}  // namespace faultline::tools::internal

namespace faultline::tools::internal {

std::vector<storage::ServiceBucket> FlushCalls(correlate::TopologyBuilder* topology,
                                               const correlate::RollupOptions& rollup) {
  topology->Edges(/*flush=*/true);
  return correlate::RollupCalls(topology->TakeCalls(), rollup);
}

}  // namespace faultline::tools::internal
