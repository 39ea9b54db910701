// The outage simulator: the same options give the same bytes, other seeds
// other bytes; the truth names the scenario's fault and when it started;
// the fault shows in the lines (its evidence line, errors only in the fault
// window); the calm run has neither; bad options are errors.
#include "sim/simulator.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace faultline::sim {
namespace {

struct SimRun {
  Truth truth;
  std::string text;  // every line, newline-terminated
  size_t lines = 0;
};

SimRun Simulated(const std::string& scenario, uint64_t seed, int minutes = 6, double rate = 5) {
  SimOptions options;
  options.scenario = scenario;
  options.seed = seed;
  options.minutes = minutes;
  options.rate = rate;
  SimRun run;
  Result<Truth> truth = Simulate(options, [&](const SimLine& line) {
    EXPECT_FALSE(line.service.empty());
    EXPECT_GT(line.ts_ns, 0);
    run.text.append(line.text);
    run.text.push_back('\n');
    ++run.lines;
  });
  EXPECT_TRUE(truth.ok()) << truth.status().ToString();
  if (truth.ok()) run.truth = *truth;
  return run;
}

TEST(SimulatorTest, TheSameSeedGivesTheSameBytesAnotherSeedOthers) {
  const SimRun a = Simulated("gpu-failure", 7);
  const SimRun b = Simulated("gpu-failure", 7);
  const SimRun c = Simulated("gpu-failure", 8);
  ASSERT_GT(a.lines, 1000u);
  EXPECT_EQ(a.text, b.text);
  EXPECT_NE(a.text, c.text);
  EXPECT_EQ(a.truth.lines, a.lines);
  EXPECT_EQ(a.truth.Json(), b.truth.Json());
}

TEST(SimulatorTest, EveryScenarioHasATruthAndItsFaultShows) {
  std::set<std::string> names;
  for (const ScenarioInfo& info : Scenarios()) {
    names.insert(info.name);
    const SimRun run = Simulated(info.name, 1);
    const Truth& t = run.truth;
    EXPECT_EQ(t.scenario, info.name);
    if (info.name == "calm") {
      EXPECT_TRUE(t.root.empty());
      EXPECT_EQ(run.text.find("\"level\":\"ERROR\""), std::string::npos) << "no errors when calm";
      continue;
    }
    EXPECT_EQ(t.root, info.root) << info.name;
    EXPECT_EQ(t.family, info.family) << info.name;
    EXPECT_EQ(t.kind, info.kind) << info.name;
    // The fault starts at 60% of the run and ends before it does.
    EXPECT_EQ(t.onset_ns, SimOptions{}.start_ns + int64_t{216} * 1'000'000'000) << info.name;
    EXPECT_GT(t.end_ns, t.onset_ns);
    ASSERT_FALSE(t.chain.empty());
    EXPECT_EQ(t.chain.front(), info.root) << info.name;
    EXPECT_FALSE(t.endpoints.empty());
    EXPECT_FALSE(t.regions.empty());
    EXPECT_EQ(info.unrelated, !t.unrelated.empty()) << info.name;
    if (info.unrelated) {
      EXPECT_NE(run.text.find("deployed billing version"), std::string::npos) << info.name;
    }
  }
  EXPECT_EQ(names.size(), 15u);  // 7 faults, each with an unrelated variant, and calm
  EXPECT_TRUE(names.count("calm") && names.count("demand-surge+unrelated"));
}

TEST(SimulatorTest, TheFaultsEvidenceIsInTheLines) {
  EXPECT_NE(Simulated("gpu-failure", 2).text.find("GPU has fallen off the bus"), std::string::npos);
  EXPECT_NE(Simulated("bad-deploy", 2).text.find("deployed completions version"), std::string::npos);
  EXPECT_NE(Simulated("config-push", 2).text.find("pushed config moderation"), std::string::npos);
  EXPECT_NE(Simulated("db-pool-exhaustion", 2).text.find("HikariPool-1"), std::string::npos);
  const SimRun calm = Simulated("calm", 2);
  // Background noise is there in every run: chronic warnings, malformed lines.
  EXPECT_NE(calm.text.find("invoice export lagging"), std::string::npos);
  EXPECT_NE(calm.text.find("\"msg\":\"trunc\n"), std::string::npos);
  // Mixed shapes: ECS, logfmt, OpenTelemetry, container-wrapped text and flat JSON.
  EXPECT_NE(calm.text.find("\"@timestamp\""), std::string::npos);
  EXPECT_NE(calm.text.find("level=INFO service=cache"), std::string::npos);
  EXPECT_NE(calm.text.find("\"timeUnixNano\""), std::string::npos);
  EXPECT_NE(calm.text.find("\"kubernetes\":{\"container_name\":\"queue\""), std::string::npos);
  EXPECT_NE(calm.text.find("\"kind\":\"span\""), std::string::npos);
  EXPECT_NE(calm.text.find("\"kind\":\"metric\""), std::string::npos);
}

TEST(SimulatorTest, BadOptionsAreErrors) {
  SimOptions options;
  auto sink = [](const SimLine&) {};
  options.scenario = "meteor-strike";
  Result<Truth> r = Simulate(options, sink);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().ToString().find("simulate --list"), std::string::npos);
  options.scenario = "calm";
  options.minutes = 1;
  EXPECT_FALSE(Simulate(options, sink).ok());
  options.minutes = 5;
  options.rate = 0;
  EXPECT_FALSE(Simulate(options, sink).ok());
}

}  // namespace
}  // namespace faultline::sim
