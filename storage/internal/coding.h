// Byte encodings shared by the storage formats: varints, zigzag, big-endian
// fixed integers (for keys that must sort numerically) and a bounds-checked
// cursor for decoding.
//
// Everything that decodes stored bytes goes through Cursor: every read checks
// the remaining length first and reports failure instead of reading past the
// end, so damaged or hostile bytes produce a Corruption status, never a crash.
// Header-only, stateless; thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace faultline::storage::internal {

// The multi-byte case of PutVarint64, kept out of line so that the one-byte
// case inlines into the encoders' per-row loops.
[[gnu::noinline]] inline void PutVarint64Long(std::string* out, uint64_t value) {
  char buf[10];
  size_t n = 0;
  while (value >= 0x80) {
    buf[n++] = static_cast<char>(value | 0x80);
    value >>= 7;
  }
  buf[n++] = static_cast<char>(value);
  out->append(buf, n);
}

inline void PutVarint64(std::string* out, uint64_t value) {
  if (value < 0x80) {  // most lengths, counts and indexes: one byte
    out->push_back(static_cast<char>(value));
    return;
  }
  PutVarint64Long(out, value);
}

inline uint64_t ZigZag(int64_t value) {
  return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
}
inline int64_t UnZigZag(uint64_t value) {
  return static_cast<int64_t>(value >> 1) ^ -static_cast<int64_t>(value & 1);
}

inline void PutZigZag(std::string* out, int64_t value) { PutVarint64(out, ZigZag(value)); }

inline void PutLengthPrefixed(std::string* out, std::string_view bytes) {
  PutVarint64(out, bytes.size());
  out->append(bytes);
}

inline void PutFixed64BE(std::string* out, uint64_t value) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  out->append(buf, 8);
}

inline uint64_t DecodeFixed64BE(const char* p) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(p[i]);
  return value;
}

// Signed times in keys: flipping the sign bit makes the unsigned big-endian
// order equal to the signed numeric order.
inline uint64_t OrderedFromSigned(int64_t value) {
  return static_cast<uint64_t>(value) ^ (uint64_t{1} << 63);
}
inline int64_t SignedFromOrdered(uint64_t value) {
  return static_cast<int64_t>(value ^ (uint64_t{1} << 63));
}

inline void PutDouble(std::string* out, double value) {
  char buf[8];
  std::memcpy(buf, &value, 8);
  out->append(buf, 8);
}

// A read position over a byte range; every getter returns false (and leaves
// the cursor unusable) instead of reading out of bounds.
class Cursor {
 public:
  Cursor() = default;
  explicit Cursor(std::string_view bytes) : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  bool empty() const { return p_ == end_; }

  bool GetVarint64(uint64_t* value) {
    uint64_t result = 0;
    for (unsigned shift = 0; shift <= 63 && p_ < end_; shift += 7) {
      uint64_t byte = static_cast<unsigned char>(*p_++);
      result |= (byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *value = result;
        return true;
      }
    }
    p_ = end_;
    return false;
  }
  bool GetVarint32(uint32_t* value) {
    uint64_t wide = 0;
    if (!GetVarint64(&wide) || wide > UINT32_MAX) return false;
    *value = static_cast<uint32_t>(wide);
    return true;
  }
  bool GetZigZag(int64_t* value) {
    uint64_t raw = 0;
    if (!GetVarint64(&raw)) return false;
    *value = UnZigZag(raw);
    return true;
  }
  bool GetByte(uint8_t* value) {
    if (p_ == end_) return false;
    *value = static_cast<uint8_t>(*p_++);
    return true;
  }
  bool GetBytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = std::string_view(p_, n);
    p_ += n;
    return true;
  }
  bool GetLengthPrefixed(std::string_view* out) {
    uint64_t n = 0;
    return GetVarint64(&n) && n <= remaining() && GetBytes(static_cast<size_t>(n), out);
  }
  bool GetFixed64BE(uint64_t* value) {
    if (remaining() < 8) return false;
    *value = DecodeFixed64BE(p_);
    p_ += 8;
    return true;
  }
  bool GetDouble(double* value) {
    if (remaining() < 8) return false;
    std::memcpy(value, p_, 8);
    p_ += 8;
    return true;
  }

 private:
  const char* p_ = nullptr;
  const char* end_ = nullptr;
};

}  // namespace faultline::storage::internal
