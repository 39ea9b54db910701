#include "core/json_writer.h"

#include <cmath>
#include <cstdio>

#include "core/time.h"

namespace faultline {

namespace {

// Length of a valid UTF-8 sequence starting at s[i], or 0 when invalid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t len;
  uint32_t min_cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    min_cp = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    min_cp = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    min_cp = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  uint32_t cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

void AppendNumberOrString(std::string* out, const Attribute& attr) {
  switch (attr.type) {
    case AttrType::kNumber:
    case AttrType::kBool:
    case AttrType::kJson:
      out->append(attr.value.empty() ? std::string_view("null") : std::string_view(attr.value));
      return;
    case AttrType::kNull:
      out->append("null");
      return;
    case AttrType::kString:
      AppendJsonString(out, attr.value);
      return;
  }
}

bool NeedsLogfmtQuotes(std::string_view value) {
  if (value.empty()) return true;
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

void AppendLogfmtPair(std::string* out, std::string_view key, std::string_view value) {
  if (!out->empty() && out->back() != '\n') out->push_back(' ');
  out->append(key);
  out->push_back('=');
  if (NeedsLogfmtQuotes(value)) {
    AppendJsonString(out, value);
  } else {
    out->append(value);
  }
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view text) {
  out->push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      out->push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); ++i; continue;
      case '\\': out->append("\\\\"); ++i; continue;
      case '\n': out->append("\\n"); ++i; continue;
      case '\r': out->append("\\r"); ++i; continue;
      case '\t': out->append("\\t"); ++i; continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out->append(buf);
      ++i;
      continue;
    }
    size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      out->append("\xEF\xBF\xBD");
      ++i;
    } else {
      out->append(text.substr(i, len));
      i += len;
    }
  }
  out->push_back('"');
}

void AppendRecordJson(std::string* out, const Record& record) {
  out->append("{\"ts\":\"");
  out->append(FormatRfc3339(record.ts_ns, 9));
  out->append("\",\"ts_ns\":");
  out->append(std::to_string(record.ts_ns));
  out->append(",\"kind\":\"");
  out->append(RecordKindName(record.kind));
  out->append("\",\"service\":");
  AppendJsonString(out, record.service);
  out->append(",\"level\":\"");
  out->append(LevelName(record.level));
  out->push_back('"');
  auto field = [&](std::string_view key, const std::string& value) {
    if (value.empty()) return;
    out->append(",\"");
    out->append(key);
    out->append("\":");
    AppendJsonString(out, value);
  };
  field("message", record.message);
  field("name", record.name);
  field("trace_id", record.trace_id);
  field("span_id", record.span_id);
  field("parent_span_id", record.parent_span_id);
  if (record.kind == RecordKind::kSpan) {
    out->append(",\"duration_ns\":");
    out->append(std::to_string(record.duration_ns));
  }
  if (record.kind == RecordKind::kMetric) {
    // JSON has no NaN or infinity: a metric without a finite value is null.
    out->append(",\"value\":");
    if (std::isfinite(record.value)) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.17g", record.value);
      out->append(buf);
    } else {
      out->append("null");
    }
  }
  if (!record.attributes.empty()) {
    out->append(",\"attributes\":{");
    bool first = true;
    for (const Attribute& attr : record.attributes) {
      if (!first) out->push_back(',');
      first = false;
      AppendJsonString(out, attr.key);
      out->push_back(':');
      AppendNumberOrString(out, attr);
    }
    out->push_back('}');
  }
  if (record.template_id != 0) {
    char id[24];
    std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(record.template_id));
    out->append(",\"template_id\":\"");
    out->append(id);
    out->push_back('"');
    if (!record.params.empty()) {
      out->append(",\"params\":[");
      for (size_t i = 0; i < record.params.size(); ++i) {
        if (i > 0) out->push_back(',');
        AppendJsonString(out, record.params[i]);
      }
      out->push_back(']');
    }
  }
  out->append(",\"source\":");
  AppendJsonString(out, record.provenance.source);
  if (record.provenance.partition >= 0) {
    out->append(",\"partition\":");
    out->append(std::to_string(record.provenance.partition));
  }
  out->append(",\"offset\":");
  out->append(std::to_string(record.provenance.offset));
  out->push_back('}');
}

void AppendRecordLogfmt(std::string* out, const Record& record) {
  std::string line;
  AppendLogfmtPair(&line, "ts", FormatRfc3339(record.ts_ns, 9));
  AppendLogfmtPair(&line, "kind", RecordKindName(record.kind));
  AppendLogfmtPair(&line, "service", record.service);
  AppendLogfmtPair(&line, "level", LevelName(record.level));
  if (!record.message.empty()) AppendLogfmtPair(&line, "msg", record.message);
  if (!record.name.empty()) AppendLogfmtPair(&line, "name", record.name);
  if (!record.trace_id.empty()) AppendLogfmtPair(&line, "trace_id", record.trace_id);
  if (!record.span_id.empty()) AppendLogfmtPair(&line, "span_id", record.span_id);
  if (!record.parent_span_id.empty()) {
    AppendLogfmtPair(&line, "parent_span_id", record.parent_span_id);
  }
  if (record.kind == RecordKind::kSpan) {
    AppendLogfmtPair(&line, "duration_ns", std::to_string(record.duration_ns));
  }
  if (record.kind == RecordKind::kMetric) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.17g", record.value);
    AppendLogfmtPair(&line, "value", buf);
  }
  for (const Attribute& attr : record.attributes) AppendLogfmtPair(&line, attr.key, attr.value);
  AppendLogfmtPair(&line, "source", record.provenance.source);
  AppendLogfmtPair(&line, "offset", std::to_string(record.provenance.offset));
  out->append(line);
}

}  // namespace faultline
