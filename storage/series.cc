#include "storage/series.h"

#include <algorithm>
#include <bit>
#include <tuple>

#include "storage/internal/coding.h"

namespace faultline::storage {

using internal::Cursor;

namespace {

constexpr uint8_t kSeriesVersion = 1;
constexpr uint8_t kHasSamples = 1;
constexpr uint8_t kHasHistogram = 2;

void PutDouble(std::string* out, double value) {
  internal::PutFixed64BE(out, std::bit_cast<uint64_t>(value));
}

bool GetDouble(Cursor* cursor, double* value) {
  std::string_view bytes;
  if (!cursor->GetBytes(8, &bytes)) return false;
  *value = std::bit_cast<double>(internal::DecodeFixed64BE(bytes.data()));
  return true;
}

bool EntryLess(const SeriesEntry& a, const SeriesEntry& b) {
  return std::tie(a.signal, a.dimension) < std::tie(b.signal, b.dimension);
}

}  // namespace

void SeriesPoint::AddSample(double value, int64_t ts_ns) {
  ++count;
  sum += value;
  min = std::min(min, value);
  max = std::max(max, value);
  if (ts_ns > last_ts_ns || (ts_ns == last_ts_ns && value > last)) {
    last = value;
    last_ts_ns = ts_ns;
  }
}

void SeriesPoint::Merge(const SeriesPoint& other) {
  count += other.count;
  sum += other.sum;
  min = std::min(min, other.min);
  max = std::max(max, other.max);
  if (other.last_ts_ns > last_ts_ns || (other.last_ts_ns == last_ts_ns && other.last > last)) {
    last = other.last;
    last_ts_ns = other.last_ts_ns;
  }
  histogram.Merge(other.histogram);
}

void MergeEntries(std::vector<SeriesEntry>* into, const std::vector<SeriesEntry>& from) {
  if (from.empty()) return;
  std::vector<SeriesEntry> merged;
  merged.reserve(into->size() + from.size());
  auto a = into->begin();
  auto b = from.begin();
  while (a != into->end() || b != from.end()) {
    if (b == from.end() || (a != into->end() && EntryLess(*a, *b))) {
      merged.push_back(std::move(*a++));
    } else if (a == into->end() || EntryLess(*b, *a)) {
      merged.push_back(*b++);
    } else {
      merged.push_back(std::move(*a++));
      merged.back().point.Merge((b++)->point);
    }
  }
  *into = std::move(merged);
}

std::string SeriesKey(int64_t start_ns, std::string_view service) {
  std::string key;
  internal::PutFixed64BE(&key, static_cast<uint64_t>(start_ns) ^ (uint64_t{1} << 63));
  key.append(service);
  return key;
}

bool ParseSeriesKey(std::string_view key, int64_t* start_ns, std::string* service) {
  if (key.size() < 8) return false;
  *start_ns = static_cast<int64_t>(internal::DecodeFixed64BE(key.data()) ^ (uint64_t{1} << 63));
  service->assign(key.substr(8));
  return true;
}

std::string EncodeSeriesValue(const ServiceBucket& bucket) {
  std::string out;
  out.push_back(static_cast<char>(kSeriesVersion));
  internal::PutVarint64(&out, static_cast<uint64_t>(bucket.width_ns));
  internal::PutVarint64(&out, bucket.entries.size());
  for (const SeriesEntry& entry : bucket.entries) {
    const SeriesPoint& p = entry.point;
    internal::PutLengthPrefixed(&out, entry.signal);
    internal::PutLengthPrefixed(&out, entry.dimension);
    const uint8_t flags = (p.has_samples() ? kHasSamples : 0) |
                          (p.histogram.empty() ? 0 : kHasHistogram);
    out.push_back(static_cast<char>(flags));
    internal::PutVarint64(&out, p.count);
    if (flags & kHasSamples) {
      PutDouble(&out, p.sum);
      PutDouble(&out, p.min);
      PutDouble(&out, p.max);
      PutDouble(&out, p.last);
      internal::PutZigZag(&out, p.last_ts_ns);
    }
    if (flags & kHasHistogram) {
      const Histogram& h = p.histogram;
      internal::PutVarint64(&out, h.zero_count());
      internal::PutVarint64(&out, h.buckets().size());
      int32_t previous = 0;
      for (const Histogram::Bucket& b : h.buckets()) {
        internal::PutZigZag(&out, int64_t{b.first} - previous);
        internal::PutVarint64(&out, b.second);
        previous = b.first;
      }
    }
  }
  return out;
}

bool DecodeSeriesValue(std::string_view bytes, ServiceBucket* bucket) {
  Cursor cursor(bytes);
  uint8_t version = 0;
  uint64_t width = 0, n = 0;
  // Each entry takes at least 4 bytes: a bound before reserving.
  if (!cursor.GetByte(&version) || version != kSeriesVersion || !cursor.GetVarint64(&width) ||
      width > uint64_t{INT64_MAX} || !cursor.GetVarint64(&n) || n > bytes.size() / 4) {
    return false;
  }
  bucket->width_ns = static_cast<int64_t>(width);
  bucket->entries.clear();
  bucket->entries.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    SeriesEntry& entry = bucket->entries.emplace_back();
    std::string_view signal, dimension;
    uint8_t flags = 0;
    if (!cursor.GetLengthPrefixed(&signal) || !cursor.GetLengthPrefixed(&dimension) ||
        !cursor.GetByte(&flags) || flags > (kHasSamples | kHasHistogram) ||
        !cursor.GetVarint64(&entry.point.count)) {
      return false;
    }
    entry.signal.assign(signal);
    entry.dimension.assign(dimension);
    if (i > 0 && !EntryLess(bucket->entries[i - 1], entry)) return false;
    SeriesPoint& p = entry.point;
    if (flags & kHasSamples) {
      if (!GetDouble(&cursor, &p.sum) || !GetDouble(&cursor, &p.min) ||
          !GetDouble(&cursor, &p.max) || !GetDouble(&cursor, &p.last) ||
          !cursor.GetZigZag(&p.last_ts_ns)) {
        return false;
      }
    }
    if (flags & kHasHistogram) {
      uint64_t zero = 0, buckets = 0;
      if (!cursor.GetVarint64(&zero) || !cursor.GetVarint64(&buckets) ||
          buckets > bytes.size() / 2) {
        return false;
      }
      std::vector<Histogram::Bucket> parts;
      parts.reserve(buckets);
      int64_t index = 0;
      for (uint64_t b = 0; b < buckets; ++b) {
        int64_t delta = 0;
        uint64_t count = 0;
        if (!cursor.GetZigZag(&delta) || !cursor.GetVarint64(&count)) return false;
        index += delta;
        if (index < INT32_MIN || index > INT32_MAX) return false;
        parts.emplace_back(static_cast<int32_t>(index), count);
      }
      if (!Histogram::FromParts(zero, std::move(parts), &p.histogram)) return false;
    }
  }
  return cursor.empty();
}

}  // namespace faultline::storage
