#include "storage/internal/bloom.h"

#include <algorithm>
#include <cmath>

namespace faultline::storage::internal {

namespace {

constexpr size_t kLineBytes = 64;
constexpr uint64_t kSlotMix = 0x9e3779b97f4a7c15ull;

size_t SlotOf(uint64_t hash, size_t mask) {
  return static_cast<size_t>((hash * kSlotMix) >> 32) & mask;
}

// Line index from the high half, probe bits from the low half (rotated by a
// multiply each round), as in RocksDB's FastLocalBloom.
uint32_t LineOf(uint64_t hash, uint32_t num_lines) {
  return static_cast<uint32_t>(((hash >> 32) * num_lines) >> 32);
}

}  // namespace

BloomBuilder::BloomBuilder() : slots_(1024, 0) { used_.reserve(512); }

void BloomBuilder::AddHash(uint64_t hash) {
  if (hash == 0) hash = 1;
  size_t mask = slots_.size() - 1;
  for (size_t i = SlotOf(hash, mask);; i = (i + 1) & mask) {
    if (slots_[i] == hash) return;
    if (slots_[i] == 0) {
      slots_[i] = hash;
      used_.push_back(static_cast<uint32_t>(i));
      if (++count_ * 2 > slots_.size()) Grow();
      return;
    }
  }
}

void BloomBuilder::Grow() {
  std::vector<uint64_t> old(slots_.size() * 2, 0);
  old.swap(slots_);
  size_t mask = slots_.size() - 1;
  for (uint32_t& slot : used_) {
    const uint64_t hash = old[slot];
    size_t i = SlotOf(hash, mask);
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = hash;
    slot = static_cast<uint32_t>(i);
  }
}

std::string BloomBuilder::Finish(int bits_per_key) {
  std::string out;
  if (count_ > 0) {
    bits_per_key = std::clamp(bits_per_key, 1, 64);
    const size_t total_bits = std::max<size_t>(count_ * static_cast<size_t>(bits_per_key), 1);
    const auto num_lines = static_cast<uint32_t>((total_bits + kLineBytes * 8 - 1) / (kLineBytes * 8));
    // k = bits_per_key * ln 2 is optimal for a standard bloom; a blocked bloom
    // loses a little, which this rounding ignores.
    const int num_probes = std::clamp(static_cast<int>(std::lround(bits_per_key * 0.69)), 1, 12);
    out.assign(1 + size_t{num_lines} * kLineBytes, '\0');
    out[0] = static_cast<char>(num_probes);
    auto* bits = reinterpret_cast<unsigned char*>(out.data() + 1);
    for (uint32_t slot : used_) {
      const uint64_t hash = slots_[slot];
      unsigned char* line = bits + size_t{LineOf(hash, num_lines)} * kLineBytes;
      auto h = static_cast<uint32_t>(hash);
      for (int probe = 0; probe < num_probes; ++probe) {
        const uint32_t bit = h >> 23;  // 9 bits: 0..511
        line[bit >> 3] = static_cast<unsigned char>(line[bit >> 3] | (1u << (bit & 7)));
        h *= 0x9e3779b9u;
      }
    }
  }
  for (uint32_t slot : used_) slots_[slot] = 0;
  used_.clear();
  count_ = 0;
  return out;
}

BloomView::BloomView(std::string_view bytes) {
  if (bytes.empty()) {
    valid_ = true;
    empty_ = true;
    return;
  }
  const size_t body = bytes.size() - 1;
  const int probes = static_cast<unsigned char>(bytes[0]);
  if (body == 0 || body % kLineBytes != 0 || probes < 1 || probes > 12 ||
      body / kLineBytes > UINT32_MAX) {
    return;  // invalid: MayContain answers true
  }
  bits_ = bytes.substr(1);
  num_probes_ = probes;
  valid_ = true;
}

bool BloomView::MayContain(uint64_t hash) const {
  if (!valid_) return true;
  if (empty_) return false;
  if (hash == 0) hash = 1;
  const auto num_lines = static_cast<uint32_t>(bits_.size() / kLineBytes);
  const auto* line = reinterpret_cast<const unsigned char*>(bits_.data()) +
                     size_t{LineOf(hash, num_lines)} * kLineBytes;
  auto h = static_cast<uint32_t>(hash);
  for (int probe = 0; probe < num_probes_; ++probe) {
    const uint32_t bit = h >> 23;
    if ((line[bit >> 3] & (1u << (bit & 7))) == 0) return false;
    h *= 0x9e3779b9u;
  }
  return true;
}

}  // namespace faultline::storage::internal
