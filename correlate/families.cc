#include "correlate/families.h"

// GCC 12 warns about libstdc++'s own regex internals (-Wmaybe-uninitialized,
// a false positive at -O1) where they are instantiated: this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>

namespace faultline::correlate {

struct SignalClassifier::Compiled {
  SignalRule rule;
  std::regex regex;
};

namespace {

using Target = SignalRule::Target;

}  // namespace

std::string_view FamilyName(Family family) {
  switch (family) {
    case Family::kInfrastructure: return "infrastructure";
    case Family::kDemand: return "demand";
    case Family::kSoftware: return "software";
    case Family::kUnknown: break;
  }
  return "unknown";
}

bool ParseFamily(std::string_view text, Family* out) {
  for (Family f : {Family::kInfrastructure, Family::kDemand, Family::kSoftware, Family::kUnknown}) {
    if (text == FamilyName(f)) {
      *out = f;
      return true;
    }
  }
  return false;
}

const std::vector<SignalRule>& SignalClassifier::BuiltinRules() {
  // Order matters: the first match wins. Specific causes before generic
  // symptoms (a "timeout talking to the GPU" is a GPU problem).
  static const std::vector<SignalRule> rules = {
      // Infrastructure, from log text.
      {Target::kText, R"(\bxid\b|ecc error|nvlink|gpu.{0,40}(fault|error|fell off|lost|unavailable|hang)|cuda error)",
       Family::kInfrastructure, "gpu", 0},
      {Target::kText, R"(out of memory|\boom\b|oomkill|killed process|memory cgroup|cannot allocate memory)",
       Family::kInfrastructure, "oom", 0},
      {Target::kText, R"(memory pressure|maxmemory|outofmemory|heap space|gc overhead|evict(ed|ing|ion)\b.{0,40}(keys|entries|pods?|memory))",
       Family::kInfrastructure, "memory", 0},
      {Target::kText, R"(no space left|disk (full|pressure)|i/o error|read-only file system|filesystem.{0,20}full)",
       Family::kInfrastructure, "disk", 0},
      {Target::kText, R"(node.{0,30}not ?ready|kubelet.{0,40}(stopped|unhealthy)|node.{0,20}(unreachable|down))",
       Family::kInfrastructure, "node", 0},
      {Target::kText, R"(connection refused|connection reset|broken pipe|econnrefused|econnreset|no route to host|network is unreachable|connection.{0,20}(closed|aborted))",
       Family::kInfrastructure, "network", 0},
      {Target::kText, R"(no such host|nxdomain|name resolution|\bdns\b|could not resolve)",
       Family::kInfrastructure, "dns", 0},
      {Target::kText, R"(\btls\b|\bssl\b|certificate|x509|handshake)", Family::kInfrastructure, "tls", 0},
      {Target::kText, R"(cpu.{0,20}(throttl|saturat|contention)|load average)", Family::kInfrastructure,
       "cpu", 0},
      // Demand, from log text.
      {Target::kText, R"(rate.?limit|too many requests|\b429\b|quota (exceeded|exhausted)|throttl)",
       Family::kDemand, "rate_limit", 0},
      {Target::kText, R"(queue.{0,20}(full|depth|backlog)|backlog|over ?capacity|overloaded|load ?shed|admission.{0,20}reject|pool exhausted|no (free|available) (worker|slot|connection))",
       Family::kDemand, "capacity", 0},
      // Software, from log text.
      {Target::kText, R"(deploy|rollout|rolled out|new version|release [0-9v]|image.{0,30}(pulled|updated))",
       Family::kSoftware, "deploy", 0},
      {Target::kText, R"(config(uration)?.{0,30}(reload|changed|updated|push|applied)|feature.?flag)",
       Family::kSoftware, "config_change", 0},
      {Target::kText, R"(exception|traceback|stack ?trace|panic|segfault|segmentation fault|nullpointer|null pointer|assert(ion)? fail|uncaught|\bat [a-z0-9_.$]+\([a-z0-9_]+\.(java|kt|scala):)",
       Family::kSoftware, "exception", 0},
      {Target::kText, R"(timed? ?out|timeout|deadline exceeded)", Family::kInfrastructure, "timeout", 0},
      // A line that says it failed, when nothing above says why.
      {Target::kText, R"(\b(error|errors|failed|failure|fatal|unable to|cannot|could not)\b)",
       Family::kSoftware, "error_lines", 0},
      // Signal names.
      {Target::kSignal, R"(^http\.429$)", Family::kDemand, "rate_limit", 1},
      {Target::kSignal, R"(^(records|http\.requests|span\.calls|edge\.calls)$)", Family::kDemand, "traffic", 1},
      {Target::kSignal, R"(^metric:.*(workload|qps|rps|requests|queue|inflight|concurrency))",
       Family::kDemand, "traffic", 1},
      {Target::kSignal, R"(^metric:.*(node_)?cpu)", Family::kInfrastructure, "cpu", 0},
      {Target::kSignal, R"(^metric:.*(mem|memory|oom))", Family::kInfrastructure, "memory", 0},
      {Target::kSignal, R"(^metric:.*(network|net_|bytes|packet|syscall))", Family::kInfrastructure,
       "network", 0},
      {Target::kSignal, R"(^metric:.*(disk|fs_|io_|iops))", Family::kInfrastructure, "disk", 0},
      {Target::kSignal, R"(^metric:.*(gpu|xid|ecc))", Family::kInfrastructure, "gpu", 0},
      {Target::kSignal, R"(^metric:.*(error|fail|5xx))", Family::kSoftware, "errors", 1},
      {Target::kSignal, R"(^metric:.*(latency|duration))", Family::kInfrastructure, "latency", 1},
      {Target::kSignal, R"(^metric:.*success)", Family::kSoftware, "errors", -1},
      {Target::kSignal, R"(^(span\.latency|latency)$)", Family::kInfrastructure, "latency", 1},
      // Time a call spends outside the callee's span: the network between
      // the two, or a starved end (topology.h kEdgeGap).
      {Target::kSignal, R"(^edge\.gap$)", Family::kInfrastructure, "network", 1},
      {Target::kSignal, R"(^(errors|span\.errors|http\.5xx)$)", Family::kSoftware, "errors", 1},
      {Target::kSignal, R"(^template:)", Family::kSoftware, "missing_lines", -1},
      {Target::kSignal, R"(^template:)", Family::kSoftware, "new_or_rising_lines", 1},
  };
  return rules;
}

Result<SignalClassifier> SignalClassifier::Create(std::vector<SignalRule> extra) {
  auto rules = std::make_shared<std::vector<Compiled>>();
  auto add = [&](const SignalRule& rule) -> Status {
    // std::regex reports a bad pattern by throwing; this is the one place
    // that can happen.
    try {
      rules->push_back(Compiled{rule, std::regex(rule.pattern, std::regex::ECMAScript |
                                                                   std::regex::icase |
                                                                   std::regex::optimize)});
    } catch (const std::regex_error& e) {
      return Status::InvalidArgument("signal rule pattern '" + rule.pattern + "': " + e.what());
    }
    return Status::Ok();
  };
  for (const SignalRule& rule : extra) FL_RETURN_IF_ERROR(add(rule));
  for (const SignalRule& rule : BuiltinRules()) FL_RETURN_IF_ERROR(add(rule));
  SignalClassifier classifier;
  classifier.rules_ = std::move(rules);
  return classifier;
}

Classification SignalClassifier::Classify(std::string_view signal, std::string_view text,
                                          int direction) const {
  if (rules_ == nullptr) return Classification{Family::kUnknown, ""};
  for (const Compiled& c : *rules_) {
    if (c.rule.direction != 0 && c.rule.direction != direction) continue;
    const std::string_view subject = c.rule.target == Target::kText ? text : signal;
    if (subject.empty()) continue;
    if (std::regex_search(subject.begin(), subject.end(), c.regex)) {
      return Classification{c.rule.family, c.rule.kind};
    }
  }
  return Classification{Family::kUnknown, ""};
}

}  // namespace faultline::correlate
