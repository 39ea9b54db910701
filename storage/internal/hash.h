// A fast 64-bit hash for bloom filters (trace ids, message tokens).
//
// wyhash-style: 64x64->128 multiply-and-fold mixing, 16 bytes per round. The
// value is stored (bloom bits derive from it), so the function is part of the
// on-disk format: changing it requires a new bloom format version.
// Header-only, pure; thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace faultline::storage::internal {

inline constexpr uint64_t kHashP0 = 0xa0761d6478bd642full;
inline constexpr uint64_t kHashP1 = 0xe7037ed1a0b428dbull;
inline constexpr uint64_t kHashP2 = 0x8ebc6af09c88c6e3ull;

inline uint64_t HashMum(uint64_t a, uint64_t b) {
  unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

inline uint64_t HashRead8(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;  // little-endian hosts only (x86-64, aarch64)
}
inline uint64_t HashRead4(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline uint64_t Hash64(std::string_view text, uint64_t seed = 0) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  uint64_t state = seed ^ HashMum(seed ^ kHashP0, kHashP1);
  uint64_t a = 0;
  uint64_t b = 0;
  if (n <= 16) {
    if (n >= 4) {
      const size_t shift = (n >> 3) << 2;
      a = (HashRead4(p) << 32) | HashRead4(p + shift);
      b = (HashRead4(p + n - 4) << 32) | HashRead4(p + n - 4 - shift);
    } else if (n > 0) {
      a = (uint64_t{p[0]} << 16) | (uint64_t{p[n >> 1]} << 8) | p[n - 1];
    }
  } else {
    size_t left = n;
    while (left > 16) {
      state = HashMum(HashRead8(p) ^ kHashP1, HashRead8(p + 8) ^ state);
      p += 16;
      left -= 16;
    }
    a = HashRead8(p + left - 16);
    b = HashRead8(p + left - 8);
  }
  return HashMum(kHashP1 ^ n, HashMum(a ^ kHashP1, b ^ state ^ kHashP2));
}

}  // namespace faultline::storage::internal
