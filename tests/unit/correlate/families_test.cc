#include "correlate/families.h"

#include <gtest/gtest.h>

namespace faultline::correlate {
namespace {

TEST(SignalClassifier, BuiltinRulesCoverTheThreeFamilies) {
  Result<SignalClassifier> c = SignalClassifier::Create();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  struct Case {
    const char* signal;
    const char* text;
    int direction;
    Family family;
    const char* kind;
  } cases[] = {
      {"template:1", "NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus", 1,
       Family::kInfrastructure, "gpu"},
      {"template:2", "Memory cgroup out of memory: Killed process <*>", 1, Family::kInfrastructure,
       "oom"},
      {"template:11", "used_memory reached maxmemory (<*>): evicted <*> of keys", 1,
       Family::kInfrastructure, "memory"},
      {"template:12", "java.lang.OutOfMemoryError: Java heap space", 1, Family::kInfrastructure,
       "memory"},
      {"template:13", "Evicted pod <*>: the node was low on resource: memory", 1,
       Family::kInfrastructure, "memory"},
      {"template:3", "write failed: No space left on device", 1, Family::kInfrastructure, "disk"},
      {"template:4", "dial tcp <*>: connect: connection refused", 1, Family::kInfrastructure,
       "network"},
      {"template:5", "upstream request timeout after <*> ms", 1, Family::kInfrastructure, "timeout"},
      {"template:6", "rate limit exceeded for org <*>", 1, Family::kDemand, "rate_limit"},
      {"template:7", "request queue full, shedding load", 1, Family::kDemand, "capacity"},
      {"template:8", "java.lang.NullPointerException: <*>", 1, Family::kSoftware, "exception"},
      {"template:9", "deploy of api-gateway version <*> started", 1, Family::kSoftware, "deploy"},
      {"template:10", "order created id=<*>", -1, Family::kSoftware, "missing_lines"},
      {"http.429", "", 1, Family::kDemand, "rate_limit"},
      {"records", "", 1, Family::kDemand, "traffic"},
      {"errors", "", 1, Family::kSoftware, "errors"},
      {"metric:cpu_usage_rate", "", 1, Family::kInfrastructure, "cpu"},
      {"metric:pod_workload", "", 1, Family::kDemand, "traffic"},
      {"span.latency", "", 1, Family::kInfrastructure, "latency"},
      {"metric:error_rate", "", 1, Family::kSoftware, "errors"},
  };
  for (const Case& k : cases) {
    const Classification got = c->Classify(k.signal, k.text, k.direction);
    EXPECT_EQ(got.family, k.family) << k.signal << " " << k.text;
    EXPECT_EQ(got.kind, k.kind) << k.signal << " " << k.text;
  }
  EXPECT_EQ(c->Classify("records", "", -1).family, Family::kUnknown);
}

TEST(SignalClassifier, ConfigRulesComeFirstAndBadPatternsAreRejected) {
  Result<SignalClassifier> c = SignalClassifier::Create(
      {SignalRule{SignalRule::Target::kText, "payment provider", Family::kInfrastructure,
                  "third_party", 0}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Classify("template:1", "payment provider exception", 1).kind, "third_party");
  Result<SignalClassifier> bad = SignalClassifier::Create(
      {SignalRule{SignalRule::Target::kText, "(unclosed", Family::kSoftware, "x", 0}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("(unclosed"), std::string::npos);
}

}  // namespace
}  // namespace faultline::correlate
