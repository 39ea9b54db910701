// Signal families: whether a change points at infrastructure, demand or
// software, and what kind of thing it is, from a rule table over template
// text, signal names and metric names. The config file can add rules
// ([[signals.rules]]); added rules are tried first, so they can override.
//
// The built-in table (families.cc) follows what on-call engineers read
// these signals as: GPU Xid/ECC, OOM, disk, node not ready, connection
// refused/reset, timeouts, DNS/TLS, CPU/memory saturation -> infrastructure;
// request rate, 429, queue depth, throttling, capacity -> demand; exceptions,
// stack traces, panics, new error templates, deploy/config events, expected
// lines that stop -> software.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace faultline::correlate {

enum class Family : uint8_t { kInfrastructure, kDemand, kSoftware, kUnknown };
std::string_view FamilyName(Family family);  // "infrastructure", "demand", "software", "unknown"
bool ParseFamily(std::string_view text, Family* out);

struct SignalRule {
  // What the pattern is matched against: a template's text (log lines) or
  // the signal name ("http.429", "metric:cpu_usage_rate", ...).
  enum class Target : uint8_t { kText, kSignal };
  Target target = Target::kText;
  std::string pattern;  // ECMAScript regex, matched case-insensitively, anywhere
  Family family = Family::kUnknown;
  std::string kind;  // "gpu", "oom", "rate_limit", "exception", ...
  // Only when the signal moved this way (rising counts of a line, or a
  // steady line that stopped): 0 either, 1 up, -1 down.
  int direction = 0;
};

struct Classification {
  Family family = Family::kUnknown;
  std::string kind;
};

class SignalClassifier {
 public:
  // `extra` rules are tried before the built-in ones. InvalidArgument for a
  // pattern that does not compile (naming it).
  static Result<SignalClassifier> Create(std::vector<SignalRule> extra = {});

  // `text` is the template text for template signals, else empty.
  // `direction`: +1 rising, -1 falling.
  Classification Classify(std::string_view signal, std::string_view text, int direction) const;

  static const std::vector<SignalRule>& BuiltinRules();

 private:
  struct Compiled;  // a rule and its regex (families.cc)
  std::shared_ptr<const std::vector<Compiled>> rules_;
};

}  // namespace faultline::correlate
