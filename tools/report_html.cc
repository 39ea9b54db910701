#include "tools/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "core/record.h"
#include "core/time.h"
#include "correlate/families.h"
#include "correlate/scan.h"

namespace faultline::tools {
namespace {

using correlate::Cause;
using correlate::CauseLabel;
using correlate::Finding;
using correlate::Incident;

// Caps that keep a page for a huge incident readable and its size bounded.
constexpr size_t kMaxTimelineRows = 200;
constexpr size_t kMaxMessageBytes = 1000;
constexpr size_t kMaxFaintNodes = 12;
constexpr size_t kMaxNodeLabelChars = 30;

// Sparkline geometry, in SVG user units.
constexpr double kSparkWidth = 240;
constexpr double kSparkHeight = 40;
constexpr double kSparkPad = 3;

void AppendReplacement(std::string* out) { out->append("\xEF\xBF\xBD"); }

// Length of the valid UTF-8 sequence at text[i], or 0 if it is not one
// (overlong forms, surrogates and code points past U+10FFFF included).
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t len = 0;
  unsigned char min2 = 0x80, max2 = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) min2 = 0xA0;
    if (lead == 0xED) max2 = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) min2 = 0x90;
    if (lead == 0xF4) max2 = 0x8F;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  if (byte(i + 1) < min2 || byte(i + 1) > max2) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

// Safe in element content and in double- or single-quoted attribute values.
// Control characters (but tab, newline, carriage return) and invalid UTF-8
// become U+FFFD, so the page stays well-formed whatever the logs held.
std::string Esc(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const size_t len = Utf8SequenceLength(text, i);
      if (len == 0) {
        AppendReplacement(&out);
        ++i;
      } else {
        out.append(text.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\t':
      case '\n':
      case '\r': out += static_cast<char>(c); break;
      default:
        if (c < 0x20 || c == 0x7F) {
          AppendReplacement(&out);
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  return out;
}

// At most `max_bytes` of `text`, cut at a character boundary, with an
// ellipsis when cut; newlines flattened so that one record stays one line.
std::string OneLine(std::string_view text, size_t max_bytes) {
  std::string out(text.substr(0, max_bytes));
  if (text.size() > max_bytes) {
    size_t cut = out.size();
    while (cut > 0 && (static_cast<unsigned char>(out[cut - 1]) & 0xC0) == 0x80) --cut;
    // A lead byte whose sequence was cut goes too.
    if (cut > 0 && static_cast<unsigned char>(out[cut - 1]) >= 0xC0) --cut;
    out.resize(cut);
    out += "\xE2\x80\xA6";
  }
  std::replace(out.begin(), out.end(), '\n', ' ');
  std::replace(out.begin(), out.end(), '\r', ' ');
  return out;
}

std::string Fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, value);
  return buf;
}

// Coordinates: one decimal is finer than a pixel.
std::string Coord(double value) { return Fmt("%.1f", value); }

std::string Num(double value) { return std::isfinite(value) ? Fmt("%.4g", value) : "-"; }

std::string Percent(double share) {
  if (!std::isfinite(share)) share = 0;
  return Fmt("%.0f%%", std::clamp(share, 0.0, 1.0) * 100);
}

std::string Clock(int64_t ns) { return FormatRfc3339(ns, 0); }

// "500 ms", "45 s", "3 min 20 s", "2 h 5 min".
std::string Duration(int64_t ns) {
  if (ns > 0 && ns < 1'000'000'000) return std::to_string(ns / 1'000'000) + " ms";
  const int64_t s = ns / 1'000'000'000;
  if (s < 60) return std::to_string(s) + " s";
  if (s < 3600) {
    return std::to_string(s / 60) + " min" + (s % 60 ? " " + std::to_string(s % 60) + " s" : "");
  }
  return std::to_string(s / 3600) + " h" +
         (s % 3600 / 60 ? " " + std::to_string(s % 3600 / 60) + " min" : "");
}

std::string JoinEsc(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + Esc(items[i]);
  return out.empty() ? "-" : out;
}

std::string SignalName(const Finding& f) {
  return f.signal + (f.dimension.empty() ? "" : "{" + f.dimension + "}");
}

const char* DirectionName(const Finding& f) {
  return f.anomaly.direction == correlate::Direction::kUp ? "up" : "down";
}

// Every service a finding speaks for: its own and, for a common-mode
// finding, all that changed with it.
template <typename Fn>
void ForEachService(const Finding& f, Fn&& fn) {
  fn(f.service);
  for (const std::string& s : f.services) {
    if (s != f.service) fn(s);
  }
}

constexpr char kStyle[] = R"css(
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:#1b1f24;
 font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:16px 20px 32px}
h1{font-size:22px;margin:4px 0 8px}
h2{font-size:16px;margin:22px 0 8px;padding-bottom:3px;border-bottom:1px solid #d0d7de}
.meta{display:flex;flex-wrap:wrap;gap:4px 20px;margin:0;padding:0;list-style:none}
.meta b{font-weight:600}
.cause{margin:8px 0 0;font-size:15px}
.unknown{color:#9a3412;font-weight:600}
.root{color:#b91c1c;font-weight:600}
.note{color:#57606a;font-style:italic}
.small{color:#57606a;font-size:12px}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
#chain{font-size:13px;background:#f6f8fa;padding:4px 8px;border-radius:4px;display:inline-block}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid #e5e7eb}
thead th{background:#f6f8fa;font-weight:600}
td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.nowrap{white-space:nowrap}
.bar{display:inline-block;width:80px;height:9px;background:#e5e7eb;border-radius:2px;
 vertical-align:middle;margin-right:6px;overflow:hidden}
.bar span{display:block;height:100%;background:#b91c1c}
.signals th{width:150px;white-space:nowrap}
.spark{display:inline-block;margin:0 14px 6px 0}
.spark .lbl{font-size:12px;color:#374151}
.spark svg{display:block;background:#fafbfc;border:1px solid #e5e7eb}
pre{background:#f6f8fa;border:1px solid #e5e7eb;border-radius:4px;padding:8px 10px;
 font-size:12px;line-height:1.5;white-space:pre-wrap;word-break:break-word;margin:0}
.lvl-ERROR,.lvl-FATAL{color:#b91c1c;font-weight:600}
.lvl-WARN{color:#9a3412}
svg text{font-family:inherit}
footer{margin-top:28px;padding-top:8px;border-top:1px solid #d0d7de;color:#57606a;font-size:12px}
@media print{main{max-width:none;padding:0}h2{break-after:avoid}tr,.spark{break-inside:avoid}}
)css";

void Header(const Incident& x, std::string* out) {
  *out += "<header>\n<h1>Incident <span class=\"mono\">" + Esc(x.id) + "</span></h1>\n";
  *out += "<ul class=\"meta\">\n";
  *out += "<li><b>Onset</b> " + Esc(Clock(x.onset_ns)) + "</li>\n";
  *out += "<li><b>State</b> " + Esc(correlate::IncidentStateName(x.state)) +
          (x.ongoing ? " (ongoing)" : "") + "</li>\n";
  *out += "<li><b>Detected after</b> " +
          (x.detected_ns >= x.onset_ns ? Duration(x.detected_ns - x.onset_ns) : "-") + "</li>\n";
  *out += "<li><b>Recovered after</b> " +
          (x.ongoing || x.end_ns < x.onset_ns ? std::string("not yet (ongoing)")
                                              : Duration(x.end_ns - x.onset_ns) + " (" +
                                                    Esc(Clock(x.end_ns)) + ")") +
          "</li>\n";
  if (x.resolved_ns > 0) *out += "<li><b>Resolved</b> " + Esc(Clock(x.resolved_ns)) + "</li>\n";
  *out += "</ul>\n";
  if (x.identified && !x.causes.empty()) {
    const Cause& top = x.causes.front();
    *out += "<p class=\"cause\">Identified: <span class=\"root\">" + Esc(top.service) +
            "</span> (" + Esc(CauseLabel(top)) + "), confidence " + Percent(top.confidence) +
            "</p>\n";
  } else {
    *out += "<p class=\"cause\"><span class=\"unknown\">Cause unknown</span>: " +
            std::string(x.causes.empty() ? "no service has convincing evidence of its own."
                                         : "the candidates below do not convince.") +
            "</p>\n";
  }
  *out += "</header>\n";
}

struct Node {
  std::string service;
  double x = 0, y = 0, width = 0;
  size_t anchor = 0;  // faint nodes: the chain node they connect to
  bool callee = false;  // faint nodes: it is called by its anchor
};

double NodeWidth(const std::string& service) {
  const size_t chars = std::min(service.size(), kMaxNodeLabelChars);
  return std::clamp(7.2 * static_cast<double>(chars) + 24, 90.0, 260.0);
}

std::string NodeLabel(const std::string& service) {
  return service.size() <= kMaxNodeLabelChars ? service
                                              : OneLine(service, kMaxNodeLabelChars - 1);
}

void DrawNode(const Node& n, const char* cls, std::string* out) {
  constexpr double kNodeHeight = 30;
  *out += "<g class=\"" + std::string(cls) + "\"><title>" + Esc(n.service) + "</title>";
  *out += "<rect x=\"" + Coord(n.x) + "\" y=\"" + Coord(n.y) + "\" width=\"" + Coord(n.width) +
          "\" height=\"" + Coord(kNodeHeight) + "\" rx=\"6\"/>";
  *out += "<text x=\"" + Coord(n.x + n.width / 2) + "\" y=\"" + Coord(n.y + 19.5) +
          "\" text-anchor=\"middle\">" + Esc(NodeLabel(n.service)) + "</text></g>\n";
}

void Arrow(double x1, double y1, double x2, double y2, const char* cls, std::string* out) {
  *out += "<line class=\"" + std::string(cls) + "\" x1=\"" + Coord(x1) + "\" y1=\"" + Coord(y1) +
          "\" x2=\"" + Coord(x2) + "\" y2=\"" + Coord(y2) + "\" marker-end=\"url(#fl-arrow)\"/>\n";
}

void Cascade(const Incident& x, const std::vector<std::pair<std::string, std::string>>& edges,
             std::string* out) {
  *out += "<section id=\"cascade-section\">\n<h2>Cascade</h2>\n";
  if (x.chain.empty()) {
    *out += "<p class=\"note\">No chain: the cause is unknown.</p>\n";
    *out += "<p><span id=\"chain\" class=\"mono\">-</span></p>\n</section>\n";
    return;
  }
  constexpr double kGap = 46, kLeft = 10, kChainY = 26, kFaintY = 100, kNodeHeight = 30;
  std::vector<Node> chain;
  double next_x = kLeft;
  for (const std::string& service : x.chain) {
    Node n{service, next_x, kChainY, NodeWidth(service)};
    next_x += n.width + kGap;
    chain.push_back(std::move(n));
  }
  // Incident services next to the chain in the call graph, each under the
  // first chain node it touches.
  std::set<std::string> in_chain(x.chain.begin(), x.chain.end());
  std::set<std::string> in_incident(x.services.begin(), x.services.end());
  std::vector<Node> faint;
  std::set<std::string> placed;
  for (size_t i = 0; i < chain.size(); ++i) {
    for (const auto& [caller, callee] : edges) {
      if (faint.size() >= kMaxFaintNodes) break;
      const bool is_caller = caller == chain[i].service;
      if (!is_caller && callee != chain[i].service) continue;
      const std::string& other = is_caller ? callee : caller;
      if (in_chain.count(other) || !in_incident.count(other) || placed.count(other)) continue;
      placed.insert(other);
      Node n{other, 0, kFaintY, NodeWidth(other), i, is_caller};
      faint.push_back(std::move(n));
    }
  }
  double faint_next = kLeft;
  for (Node& n : faint) {
    n.x = std::max(chain[n.anchor].x, faint_next);
    faint_next = n.x + n.width + 16;
  }
  double width = next_x - kGap + kLeft;
  if (!faint.empty()) width = std::max(width, faint_next - 16 + kLeft);
  const double height = faint.empty() ? kChainY + kNodeHeight + 26 : kFaintY + kNodeHeight + 8;

  *out += "<svg class=\"cascade\" role=\"img\" aria-label=\"cascade from root cause to impact\" "
          "width=\"" + Coord(width) + "\" height=\"" + Coord(height) + "\" viewBox=\"0 0 " +
          Coord(width) + " " + Coord(height) + "\" style=\"max-width:100%;height:auto\">\n";
  *out += "<defs><marker id=\"fl-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
          "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">"
          "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#57606a\"/></marker></defs>\n";
  *out += "<style>.cascade .n rect{fill:#eef2f7;stroke:#57606a;stroke-width:1.2}"
          ".cascade .r rect{fill:#fde2e1;stroke:#b91c1c;stroke-width:2.2}"
          ".cascade .r text{fill:#991b1b;font-weight:600}"
          ".cascade .u rect{fill:#e8f0fe;stroke:#1d4ed8;stroke-width:1.6}"
          ".cascade .f{opacity:.45}.cascade .f rect{fill:#fff;stroke:#8c959f;"
          "stroke-dasharray:4 3}.cascade text{font-size:13px;fill:#1b1f24}"
          ".cascade .e{stroke:#57606a;stroke-width:1.6}"
          ".cascade .fe{stroke:#8c959f;stroke-width:1;stroke-dasharray:4 3;opacity:.6}"
          ".cascade .cap{font-size:11px;fill:#57606a}</style>\n";
  // Errors travel from a callee to its callers: arrows point that way, root
  // to impact, faint neighbours included.
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    Arrow(chain[i].x + chain[i].width, kChainY + kNodeHeight / 2, chain[i + 1].x - 2,
          kChainY + kNodeHeight / 2, "e", out);
  }
  for (const Node& n : faint) {
    const Node& a = chain[n.anchor];
    const double ax = a.x + a.width / 2, nx = n.x + n.width / 2;
    if (n.callee) {
      Arrow(nx, kFaintY, ax, kChainY + kNodeHeight + 2, "fe", out);
    } else {
      Arrow(ax, kChainY + kNodeHeight, nx, kFaintY - 2, "fe", out);
    }
  }
  for (size_t i = 0; i < chain.size(); ++i) {
    const bool root = i == 0, user_end = i + 1 == chain.size() && chain.size() > 1;
    DrawNode(chain[i], root ? "r" : user_end ? "u" : "n", out);
    const char* caption = root ? (chain.size() == 1 ? "root cause, user-facing" : "root cause")
                               : user_end ? "user-facing" : nullptr;
    if (caption != nullptr) {
      *out += "<text class=\"cap\" x=\"" + Coord(chain[i].x + chain[i].width / 2) + "\" y=\"" +
              Coord(kChainY - 8) + "\" text-anchor=\"middle\">" + caption + "</text>\n";
    }
  }
  for (const Node& n : faint) DrawNode(n, "f", out);
  *out += "</svg>\n";
  std::string text;
  for (size_t i = 0; i < x.chain.size(); ++i) text += (i ? " -> " : "") + x.chain[i];
  *out += "<p>Chain: <span id=\"chain\" class=\"mono\">" + Esc(text) + "</span></p>\n";
  *out += "</section>\n";
}

void Causes(const Incident& x, std::string* out) {
  *out += "<section>\n<h2>Ranked causes</h2>\n";
  if (x.causes.empty()) {
    *out += "<p class=\"note\">No candidate causes.</p>\n";
  }
  *out += "<table id=\"causes\">\n<thead><tr><th>#</th><th>Service</th><th>Family / kind</th>"
          "<th>Confidence</th><th>Score</th><th>Why</th></tr></thead>\n<tbody>\n";
  for (size_t i = 0; i < x.causes.size(); ++i) {
    const Cause& c = x.causes[i];
    const std::string pct = Percent(c.confidence);
    *out += "<tr><td class=\"n\">" + std::to_string(i + 1) + "</td><td class=\"nowrap" +
            (i == 0 && x.identified ? " root" : "") + "\">" + Esc(c.service) + "</td><td>" +
            Esc(CauseLabel(c)) + "</td><td class=\"nowrap\"><span class=\"bar\"><span " +
            "style=\"width:" + pct + "\"></span></span>" + pct + "</td><td class=\"n\">" +
            Num(c.score) + "</td><td>" + Esc(c.why) + "</td></tr>\n";
  }
  *out += "</tbody>\n</table>\n</section>\n";
}

// One sparkline: the series scaled to its own min/max, NaN buckets as gaps,
// a red line at the service's first onset and a dashed one at the
// incident's. `buckets` is the shared axis length.
void Sparkline(const ReportSeries& s, size_t buckets, int64_t start_ns, int64_t bucket_ns,
               int64_t service_onset_ns, bool has_service_onset, int64_t incident_onset_ns,
               std::string* out) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : s.values) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const bool any = lo <= hi;
  *out += "<div class=\"spark\"><div class=\"lbl\">" + Esc(s.label) + " <span class=\"small\">" +
          (any ? Num(lo) + " &ndash; " + Num(hi) : std::string("no data")) + "</span></div>";
  *out += "<svg width=\"" + Coord(kSparkWidth) + "\" height=\"" + Coord(kSparkHeight) +
          "\" viewBox=\"0 0 " + Coord(kSparkWidth) + " " + Coord(kSparkHeight) +
          "\" role=\"img\" aria-label=\"" + Esc(s.service + " " + s.label) + "\"><title>" +
          Esc(s.service + ": " + s.label) + "</title>";
  const double span_ns = static_cast<double>(buckets) * static_cast<double>(bucket_ns);
  const auto time_x = [&](int64_t t) {
    return static_cast<double>(t - start_ns) / span_ns * kSparkWidth;
  };
  const auto vline = [&](int64_t t, const char* style) {
    const double lx = time_x(t);
    if (!(lx >= 0 && lx <= kSparkWidth)) return;
    *out += "<line x1=\"" + Coord(lx) + "\" y1=\"0\" x2=\"" + Coord(lx) + "\" y2=\"" +
            Coord(kSparkHeight) + "\" " + style + "/>";
  };
  if (span_ns > 0) {
    vline(incident_onset_ns, "stroke=\"#6b7280\" stroke-width=\"1\" stroke-dasharray=\"3 2\"");
    if (has_service_onset) vline(service_onset_ns, "stroke=\"#dc2626\" stroke-width=\"1.4\"");
  }
  if (any && buckets > 0) {
    const double range = hi - lo;
    const auto px = [&](size_t i) {
      return (static_cast<double>(i) + 0.5) / static_cast<double>(buckets) * kSparkWidth;
    };
    const auto py = [&](double v) {
      const double norm = range > 0 ? (v - lo) / range : 0.5;
      return kSparkHeight - kSparkPad - norm * (kSparkHeight - 2 * kSparkPad);
    };
    std::string path, dots;
    const size_t n = std::min(s.values.size(), buckets);
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(s.values[i])) continue;
      const bool starts = i == 0 || !std::isfinite(s.values[i - 1]);
      const bool ends = i + 1 >= n || !std::isfinite(s.values[i + 1]);
      if (starts && ends) {  // a lone point between gaps: no segment to draw
        dots += "<circle cx=\"" + Coord(px(i)) + "\" cy=\"" + Coord(py(s.values[i])) +
                "\" r=\"1.6\" fill=\"#1d4ed8\"/>";
        continue;
      }
      path += (starts ? "M" : "L") + Coord(px(i)) + "," + Coord(py(s.values[i])) + " ";
    }
    if (!path.empty()) {
      path.pop_back();
      *out += "<path d=\"" + path +
              "\" fill=\"none\" stroke=\"#1d4ed8\" stroke-width=\"1.4\" "
              "stroke-linejoin=\"round\"/>";
    }
    *out += dots;
  }
  *out += "</svg></div>";
}

void Signals(const ReportInput& input, const Incident& x, std::string* out) {
  *out += "<section>\n<h2>Signals</h2>\n";
  size_t buckets = 0;
  for (const ReportSeries& s : input.series) buckets = std::max(buckets, s.values.size());
  if (input.series.empty() || buckets == 0 || input.bucket_ns <= 0) {
    *out += "<p class=\"note\">No series to show.</p>\n</section>\n";
    return;
  }
  const int64_t end_ns = input.start_ns + static_cast<int64_t>(buckets) * input.bucket_ns;
  *out += "<p class=\"small\">Shared time axis " + Esc(Clock(input.start_ns)) + " to " +
          Esc(Clock(end_ns)) + ", " + Duration(input.bucket_ns) +
          " buckets; each line scaled to its own min/max, gaps where there is no data. "
          "<span style=\"color:#dc2626\">Red line</span>: the service's first onset; "
          "dashed line: the incident's onset (" + Esc(Clock(x.onset_ns)) + ").</p>\n";

  // Chain services first, then the incident's other services, then any
  // other service with a series, in the order given.
  std::vector<std::string> order;
  std::set<std::string> seen;
  const auto add = [&](const std::string& service) {
    if (seen.insert(service).second) order.push_back(service);
  };
  std::set<std::string> with_series;
  for (const ReportSeries& s : input.series) with_series.insert(s.service);
  for (const std::string& s : x.chain) {
    if (with_series.count(s)) add(s);
  }
  for (const std::string& s : x.services) {
    if (with_series.count(s)) add(s);
  }
  for (const ReportSeries& s : input.series) add(s.service);

  std::map<std::string, int64_t> first_onset;
  for (const Finding& f : x.timeline) {
    ForEachService(f, [&](const std::string& service) {
      auto [it, inserted] = first_onset.emplace(service, f.onset_ns);
      if (!inserted) it->second = std::min(it->second, f.onset_ns);
    });
  }

  *out += "<table class=\"signals\">\n<tbody>\n";
  for (const std::string& service : order) {
    const auto onset = first_onset.find(service);
    const bool has_onset = onset != first_onset.end();
    *out += "<tr><th>" + Esc(service);
    if (has_onset) {
      *out += "<div class=\"small\">first change " + Esc(FormatRfc3339(onset->second, 0)) +
              "</div>";
    }
    *out += "</th><td>";
    for (const ReportSeries& s : input.series) {
      if (s.service != service) continue;
      Sparkline(s, buckets, input.start_ns, input.bucket_ns, has_onset ? onset->second : 0,
                has_onset, x.onset_ns, out);
    }
    *out += "</td></tr>\n";
  }
  *out += "</tbody>\n</table>\n</section>\n";
}

void Impact(const Incident& x, std::string* out) {
  *out += "<section>\n<h2>Impact</h2>\n<ul>\n";
  *out += "<li><b>Endpoints:</b> " + JoinEsc(x.endpoints) + "</li>\n";
  *out += "<li><b>Regions:</b> " + JoinEsc(x.regions) + "</li>\n";
  *out += "<li><b>Services:</b> " + JoinEsc(x.services) + "</li>\n";
  *out += "</ul>\n</section>\n";
}

void EvidenceLines(const Incident& x, std::string* out) {
  *out += "<section>\n<h2>Evidence lines</h2>\n";
  if (x.lines.empty()) {
    *out += "<p class=\"note\">No evidence lines.</p>\n</section>\n";
    return;
  }
  *out += "<pre id=\"lines\">";
  for (const correlate::EvidenceLine& l : x.lines) {
    const std::string level(LevelName(l.level));
    *out += Esc(FormatRfc3339(l.ts_ns)) + " " + Esc(l.service) + " <span class=\"lvl-" +
            Esc(level) + "\">" + Esc(level) + "</span> " +
            Esc(OneLine(l.message, kMaxMessageBytes));
    const Provenance& p = l.provenance;
    if (!p.source.empty()) {
      *out += "  <span class=\"small\">[" + Esc(p.source) +
              (p.partition >= 0 ? ":" + std::to_string(p.partition) : "") + "@" +
              std::to_string(p.offset) + "]</span>";
    }
    *out += "\n";
  }
  *out += "</pre>\n</section>\n";
}

// Signal and direction have their own columns: the change itself, then
// what it was read as.
std::string TimelineWhat(const Finding& f) {
  std::string what = (f.stat == correlate::Stat::kCount
                          ? std::string()
                          : std::string(correlate::StatName(f.stat)) + " ") +
                     Num(f.anomaly.baseline) + " -> " + Num(f.anomaly.peak_value);
  if (f.anomaly.drop_to_zero) what += ", stopped";
  if (f.first_seen) what += ", new line";
  if (f.family != correlate::Family::kUnknown || !f.kind.empty()) {
    what += " (" + std::string(correlate::FamilyName(f.family)) +
            (f.kind.empty() ? "" : " / " + f.kind) + ")";
  }
  if (f.services.size() > 1) what += ", on " + std::to_string(f.services.size()) + " services";
  return what;
}

void Timeline(const Incident& x, std::string* out) {
  *out += "<section>\n<h2>Timeline</h2>\n";
  if (x.timeline.empty()) {
    *out += "<p class=\"note\">No findings.</p>\n</section>\n";
    return;
  }
  *out += "<table id=\"timeline\">\n<thead><tr><th>Time</th><th>Service</th><th>Signal</th>"
          "<th>Direction</th><th>What</th></tr></thead>\n<tbody>\n";
  for (size_t i = 0; i < x.timeline.size() && i < kMaxTimelineRows; ++i) {
    const Finding& f = x.timeline[i];
    *out += "<tr><td class=\"nowrap\">" + Esc(Clock(f.onset_ns)) + "</td><td>" + Esc(f.service) +
            "</td><td class=\"mono\">" + Esc(SignalName(f)) + "</td><td>" + DirectionName(f) +
            "</td><td>" + Esc(TimelineWhat(f)) + "</td></tr>\n";
  }
  *out += "</tbody>\n</table>\n";
  if (x.timeline.size() > kMaxTimelineRows) {
    *out += "<p class=\"note\">... and " + std::to_string(x.timeline.size() - kMaxTimelineRows) +
            " more findings.</p>\n";
  }
  *out += "</section>\n";
}

void StatusSection(const std::vector<StatusUpdateView>& status, std::string* out) {
  *out += "<section>\n<h2>Status updates</h2>\n";
  if (status.empty()) {
    *out += "<p class=\"note\">No status updates.</p>\n</section>\n";
    return;
  }
  *out += "<table id=\"status\">\n<thead><tr><th>State</th><th>Time</th><th>Components</th>"
          "<th>Summary</th></tr></thead>\n<tbody>\n";
  for (const StatusUpdateView& u : status) {
    *out += "<tr><td class=\"nowrap\">" + Esc(u.state) + "</td><td class=\"nowrap\">" +
            Esc(Clock(u.at_ns)) + "</td><td>" + Esc(u.components) + "</td><td>" +
            Esc(u.summary) + "</td></tr>\n";
  }
  *out += "</tbody>\n</table>\n</section>\n";
}

}  // namespace

std::string ReportHtml(const ReportInput& input) {
  static const Incident kEmpty;
  const Incident& x = input.incident != nullptr ? *input.incident : kEmpty;
  std::string out;
  out.reserve(16384 + x.lines.size() * 256 + x.timeline.size() * 256 +
              input.series.size() * 2048);
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  // The page must work offline and leak nothing when opened: forbid every
  // fetch; inline styles only.
  out += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
         "style-src 'unsafe-inline'\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>Incident " + Esc(x.id.empty() ? "(none)" : x.id) + " - faultline</title>\n";
  out += "<style>" + std::string(kStyle) + "</style>\n</head>\n<body>\n<main>\n";
  if (input.incident == nullptr) {
    out += "<p class=\"note\">No incident given.</p>\n";
  }
  Header(x, &out);
  Cascade(x, input.edges, &out);
  Causes(x, &out);
  Signals(input, x, &out);
  Impact(x, &out);
  EvidenceLines(x, &out);
  Timeline(x, &out);
  StatusSection(input.status, &out);
  out += "<footer>Generated by " +
         Esc(input.generated_by.empty() ? std::string("faultline") : input.generated_by) +
         " &middot; self-contained: no network fetches</footer>\n";
  out += "</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace faultline::tools
