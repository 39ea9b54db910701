// Blocked bloom filters over 64-bit hashes, one per block and key kind (trace
// ids, message tokens), stored in the `block_index` column family.
//
// Layout (format 1): one byte `num_probes`, then the bit array, a multiple of
// 64 bytes. A key's hash picks one 64-byte (512-bit) cache line, and all of
// its probes fall inside it: one cache miss per lookup. An empty filter holds
// no keys: MayContain is false for everything. A filter that does not parse is
// treated as "may contain" so that damage costs speed, never results.
//
// BloomBuilder is single-threaded; BloomView is a read-only view, safe to
// share, valid while the bytes it views live.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace faultline::storage::internal {

class BloomBuilder {
 public:
  BloomBuilder();
  // Adds a key hash; duplicates are collapsed so that sizing follows the
  // number of distinct keys.
  void AddHash(uint64_t hash);
  size_t distinct() const { return count_; }
  // Serialized filter with `bits_per_key` bits per distinct key ("" when no
  // key was added). Resets the builder.
  std::string Finish(int bits_per_key);

 private:
  void Grow();
  // Open-addressing set of hashes; 0 marks an empty slot (a hash of 0 is
  // stored as 1, which only costs a negligible extra false positive).
  std::vector<uint64_t> slots_;
  // Indexes of the occupied slots, so that Finish visits and clears only
  // those: the table keeps the size of the largest block seen, and most
  // blocks fill a small part of it.
  std::vector<uint32_t> used_;
  size_t count_ = 0;
};

class BloomView {
 public:
  explicit BloomView(std::string_view bytes);
  bool MayContain(uint64_t hash) const;

 private:
  std::string_view bits_;
  int num_probes_ = 0;
  bool valid_ = false;
  bool empty_ = false;
};

}  // namespace faultline::storage::internal
