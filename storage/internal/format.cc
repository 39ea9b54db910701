#include "storage/internal/format.h"

#include "storage/internal/coding.h"

namespace faultline::storage::internal {

namespace {
// Leading version byte of every encoded value, so fields can be added later
// without guessing.
constexpr uint8_t kValueVersion = 1;
// Reasons added by a later version would be appended; keep the ones known.
bool ReadReasonCounts(Cursor* cursor, uint64_t reasons,
                      std::array<uint64_t, kRejectReasonCount>* counts) {
  for (uint64_t i = 0; i < reasons; ++i) {
    uint64_t count = 0;
    if (!cursor->GetVarint64(&count)) return false;
    if (i < kRejectReasonCount) (*counts)[i] = count;
  }
  return true;
}

}  // namespace

std::string BlockKey(std::string_view service, int64_t slice_start_ns, uint64_t seq) {
  std::string key;
  key.reserve(service.size() + 18);
  PutLengthPrefixed(&key, service);
  PutFixed64BE(&key, OrderedFromSigned(slice_start_ns));
  PutFixed64BE(&key, seq);
  return key;
}

int64_t SliceStart(int64_t ts_ns, int64_t span_ns) {
  if (span_ns <= 0) return ts_ns;
  int64_t quotient = ts_ns / span_ns;
  if (ts_ns % span_ns < 0) --quotient;
  return quotient * span_ns;
}

std::string IndexKey(char prefix, uint64_t seq) {
  std::string key(1, prefix);
  PutFixed64BE(&key, seq);
  return key;
}

bool ParseIndexKey(std::string_view key, char* prefix, uint64_t* seq) {
  if (key.size() != 9) return false;
  *prefix = key[0];
  *seq = DecodeFixed64BE(key.data() + 1);
  return true;
}

std::string EncodeSummary(const BlockSummary& summary) {
  std::string out;
  out.push_back(static_cast<char>(kValueVersion));
  PutLengthPrefixed(&out, summary.service);
  PutLengthPrefixed(&out, summary.block_key);
  PutZigZag(&out, summary.min_ts_ns);
  PutZigZag(&out, summary.max_ts_ns);
  PutVarint64(&out, summary.record_count);
  PutVarint64(&out, kLevelCount);
  for (uint32_t count : summary.level_counts) PutVarint64(&out, count);
  PutVarint64(&out, kRecordKindCount);
  for (uint32_t count : summary.kind_counts) PutVarint64(&out, count);
  PutVarint64(&out, summary.raw_bytes);
  PutVarint64(&out, summary.stored_bytes);
  return out;
}

bool DecodeSummary(std::string_view bytes, BlockSummary* summary) {
  Cursor cursor(bytes);
  uint8_t version = 0;
  std::string_view service, block_key;
  uint64_t levels = 0, kinds = 0;
  if (!cursor.GetByte(&version) || version != kValueVersion ||
      !cursor.GetLengthPrefixed(&service) || !cursor.GetLengthPrefixed(&block_key) ||
      !cursor.GetZigZag(&summary->min_ts_ns) || !cursor.GetZigZag(&summary->max_ts_ns) ||
      !cursor.GetVarint32(&summary->record_count) || !cursor.GetVarint64(&levels) ||
      levels != kLevelCount) {
    return false;
  }
  for (uint32_t& count : summary->level_counts) {
    if (!cursor.GetVarint32(&count)) return false;
  }
  if (!cursor.GetVarint64(&kinds) || kinds != kRecordKindCount) return false;
  for (uint32_t& count : summary->kind_counts) {
    if (!cursor.GetVarint32(&count)) return false;
  }
  if (!cursor.GetVarint64(&summary->raw_bytes) || !cursor.GetVarint64(&summary->stored_bytes) ||
      !cursor.empty() || summary->min_ts_ns > summary->max_ts_ns) {
    return false;
  }
  summary->service.assign(service);
  summary->block_key.assign(block_key);
  return true;
}

std::string DeadLetterKey(uint64_t seq) {
  std::string key;
  PutFixed64BE(&key, seq);
  return key;
}

std::string EncodeDeadLetter(const DeadLetter& dead_letter) {
  std::string out;
  out.reserve(dead_letter.raw.size() + dead_letter.detail.size() + dead_letter.source.size() + 32);
  out.push_back(static_cast<char>(kValueVersion));
  out.push_back(static_cast<char>(dead_letter.reason));
  PutLengthPrefixed(&out, dead_letter.detail);
  PutLengthPrefixed(&out, dead_letter.source);
  PutZigZag(&out, dead_letter.partition);
  PutVarint64(&out, dead_letter.offset);
  PutVarint64(&out, dead_letter.raw_size);
  PutLengthPrefixed(&out, dead_letter.raw);
  PutZigZag(&out, dead_letter.seen_unix_ns);
  return out;
}

bool DecodeDeadLetter(std::string_view bytes, DeadLetter* dead_letter) {
  Cursor cursor(bytes);
  uint8_t version = 0, reason = 0;
  std::string_view detail, source, raw;
  int64_t partition = 0;
  if (!cursor.GetByte(&version) || version != kValueVersion || !cursor.GetByte(&reason) ||
      reason >= kRejectReasonCount || !cursor.GetLengthPrefixed(&detail) ||
      !cursor.GetLengthPrefixed(&source) || !cursor.GetZigZag(&partition) ||
      partition < INT32_MIN || partition > INT32_MAX ||
      !cursor.GetVarint64(&dead_letter->offset) || !cursor.GetVarint64(&dead_letter->raw_size) ||
      !cursor.GetLengthPrefixed(&raw) || !cursor.GetZigZag(&dead_letter->seen_unix_ns) ||
      !cursor.empty()) {
    return false;
  }
  dead_letter->reason = static_cast<RejectReason>(reason);
  dead_letter->detail.assign(detail);
  dead_letter->source.assign(source);
  dead_letter->partition = static_cast<int32_t>(partition);
  dead_letter->raw.assign(raw);
  return true;
}

std::string TemplateKey(uint64_t id) {
  std::string key;
  PutFixed64BE(&key, id);
  return key;
}

std::string EncodeTemplate(const StoredTemplate& stored) {
  std::string out;
  out.push_back(static_cast<char>(kValueVersion));
  PutLengthPrefixed(&out, stored.service);
  PutLengthPrefixed(&out, stored.text);
  PutVarint64(&out, stored.count);
  PutZigZag(&out, stored.first_seen_ns);
  PutZigZag(&out, stored.last_seen_ns);
  PutLengthPrefixed(&out, stored.example);
  return out;
}

bool DecodeTemplate(std::string_view bytes, StoredTemplate* stored) {
  Cursor cursor(bytes);
  uint8_t version = 0;
  std::string_view service, text, example;
  if (!cursor.GetByte(&version) || version != kValueVersion ||
      !cursor.GetLengthPrefixed(&service) || !cursor.GetLengthPrefixed(&text) ||
      !cursor.GetVarint64(&stored->count) || !cursor.GetZigZag(&stored->first_seen_ns) ||
      !cursor.GetZigZag(&stored->last_seen_ns) || !cursor.GetLengthPrefixed(&example) ||
      !cursor.empty()) {
    return false;
  }
  stored->service.assign(service);
  stored->text.assign(text);
  stored->example.assign(example);
  return true;
}

std::string TemplateCountsKey(uint64_t seq) {
  std::string key(kTemplateCountsPrefix);
  PutFixed64BE(&key, seq);
  return key;
}

std::string EncodeTemplateCounts(const std::vector<TemplateCount>& counts) {
  std::string out;
  out.push_back(static_cast<char>(kValueVersion));
  PutVarint64(&out, counts.size());
  for (const TemplateCount& c : counts) {
    PutFixed64BE(&out, c.id);
    PutVarint64(&out, c.count);
    PutZigZag(&out, c.first_seen_ns);
    PutZigZag(&out, c.last_seen_ns);
  }
  return out;
}

bool DecodeTemplateCounts(std::string_view bytes, std::vector<TemplateCount>* counts) {
  Cursor cursor(bytes);
  uint8_t version = 0;
  uint64_t n = 0;
  // Each entry takes at least 11 bytes: a bound before reserving.
  if (!cursor.GetByte(&version) || version != kValueVersion || !cursor.GetVarint64(&n) ||
      n > bytes.size() / 11) {
    return false;
  }
  counts->reserve(counts->size() + n);
  for (uint64_t i = 0; i < n; ++i) {
    TemplateCount& c = counts->emplace_back();
    std::string_view id;
    if (!cursor.GetBytes(8, &id) || !cursor.GetVarint64(&c.count) ||
        !cursor.GetZigZag(&c.first_seen_ns) || !cursor.GetZigZag(&c.last_seen_ns)) {
      return false;
    }
    c.id = DecodeFixed64BE(id.data());
  }
  return cursor.empty();
}

std::string PositionKey(std::string_view source_key) {
  std::string key(kPositionPrefix);
  key.append(source_key);
  return key;
}

std::string EncodePosition(const SourcePosition& position) {
  std::string out;
  out.push_back(static_cast<char>(kValueVersion));
  PutVarint64(&out, position.offset);
  out.push_back(position.complete ? '\1' : '\0');
  PutLengthPrefixed(&out, position.description);
  return out;
}

bool DecodePosition(std::string_view key, std::string_view bytes, SourcePosition* position) {
  Cursor cursor(bytes);
  uint8_t version = 0, complete = 0;
  std::string_view description;
  if (!cursor.GetByte(&version) || version != kValueVersion ||
      !cursor.GetVarint64(&position->offset) || !cursor.GetByte(&complete) || complete > 1 ||
      !cursor.GetLengthPrefixed(&description) || !cursor.empty()) {
    return false;
  }
  position->key.assign(key);
  position->complete = complete == 1;
  position->description.assign(description);
  return true;
}

std::string EncodeCounters(const StoreCounters& counters) {
  std::string out;
  out.push_back(static_cast<char>(kValueVersion));
  PutVarint64(&out, counters.parse.lines);
  PutVarint64(&out, counters.parse.empty_lines);
  PutVarint64(&out, counters.parse.joined_lines);
  PutVarint64(&out, counters.parse.bytes);
  PutVarint64(&out, kRejectReasonCount);
  for (uint64_t count : counters.parse.rejects) PutVarint64(&out, count);
  PutVarint64(&out, counters.dead_letters);
  PutVarint64(&out, counters.dead_letters_dropped);
  PutVarint64(&out, counters.dead_letter_bytes);
  PutVarint64(&out, counters.next_dead_letter_seq);
  PutVarint64(&out, counters.records);
  for (uint64_t count : counters.dead_letters_by_reason) PutVarint64(&out, count);
  return out;
}

bool DecodeCounters(std::string_view bytes, StoreCounters* counters) {
  Cursor cursor(bytes);
  uint8_t version = 0;
  uint64_t reasons = 0;
  if (!cursor.GetByte(&version) || version != kValueVersion ||
      !cursor.GetVarint64(&counters->parse.lines) ||
      !cursor.GetVarint64(&counters->parse.empty_lines) ||
      !cursor.GetVarint64(&counters->parse.joined_lines) ||
      !cursor.GetVarint64(&counters->parse.bytes) || !cursor.GetVarint64(&reasons) ||
      reasons > 1024) {
    return false;
  }
  if (!ReadReasonCounts(&cursor, reasons, &counters->parse.rejects)) return false;
  return cursor.GetVarint64(&counters->dead_letters) &&
         cursor.GetVarint64(&counters->dead_letters_dropped) &&
         cursor.GetVarint64(&counters->dead_letter_bytes) &&
         cursor.GetVarint64(&counters->next_dead_letter_seq) &&
         cursor.GetVarint64(&counters->records) && ReadReasonCounts(&cursor, reasons, &counters->dead_letters_by_reason) && cursor.empty();
}

std::string EncodeU64(uint64_t value) {
  std::string out;
  PutFixed64BE(&out, value);
  return out;
}

bool DecodeU64(std::string_view bytes, uint64_t* value) {
  Cursor cursor(bytes);
  return cursor.GetFixed64BE(value) && cursor.empty();
}

}  // namespace faultline::storage::internal
