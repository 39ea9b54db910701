#include "ingest/template_miner.h"

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace faultline::ingest {
namespace {

std::shared_ptr<const Masker> MustMasker(const MinerOptions& options) {
  Result<std::shared_ptr<const Masker>> masker = CompileMasker(options);
  EXPECT_TRUE(masker.ok()) << masker.status().ToString();
  return masker.ok() ? masker.value() : nullptr;
}

// The masked token texts of `message`, joined by spaces.
std::string Masked(std::string_view message, const MinerOptions& options = {}) {
  std::shared_ptr<const Masker> masker = MustMasker(options);
  PreparedMessage prepared;
  TemplateMiner::Prepare(*masker, message, &prepared);
  std::string out;
  for (size_t i = 0; i < prepared.tokens.size(); ++i) {
    if (i > 0) out += ' ';
    out += prepared.tokens[i];
  }
  return out;
}

TEST(TemplateMinerMasking, EachBuiltinKind) {
  EXPECT_EQ(Masked("took 12 ms"), "took <*>");                      // number + unit
  EXPECT_EQ(Masked("sent 1.5GiB"), "sent <*>");                     // size with unit
  EXPECT_EQ(Masked("id 0xdeadbeef"), "id <*>");                     // hex
  EXPECT_EQ(Masked("hash deadbeefcafe"), "hash <*>");               // hex without digits
  EXPECT_EQ(Masked("from 10.1.2.3:8080"), "from <*>");              // IP and port
  EXPECT_EQ(Masked("req 123e4567-e89b-12d3-a456-426614174000"), "req <*>");  // UUID
  EXPECT_EQ(Masked("open /var/log/app.log"), "open <*>");           // path
  EXPECT_EQ(Masked("GET https://example.com/x"), "GET <*>");        // URL
  EXPECT_EQ(Masked("mail bob@example.com"), "mail <*>");            // e-mail
  EXPECT_EQ(Masked("at 2024-01-02T03:04:05Z"), "at <*>");           // timestamp
  EXPECT_EQ(Masked("at Sun Jul  3 10:05:25 2005"), "at <*> <*> <*> <*> <*>");  // syslog date
  EXPECT_EQ(Masked("user 'root' said \"hello there\" ok"),
            "user '<*>' said \"<*>\" ok");  // quoted values, quotes kept as context
  EXPECT_EQ(Masked("login uid=0 tty=:0 ruser="), "login uid=<*> tty=<*> ruser=");  // key=value
  EXPECT_EQ(Masked("status=ok"), "status=ok");  // a word value names a case, stays
  EXPECT_EQ(Masked("lifetime <1 sec"), "lifetime <<*>");
  EXPECT_EQ(Masked("sent 1190 bytes (1.16 KB)"), "sent <*> (<*>)");
  EXPECT_EQ(Masked("illegal instruction......0"), "illegal instruction......<*>");
  EXPECT_EQ(Masked("interface eth0 node-12"), "interface eth0 <*>");  // word + digit stays
}

TEST(TemplateMinerMasking, ExtraRulesFromConfig) {
  MinerOptions options;
  options.extra_masks.push_back({"order", "ORD-[A-Z]+"});
  EXPECT_EQ(Masked("order ORD-ABC shipped", options), "order <order> shipped");
  options.extra_masks.push_back({"bad", "("});
  EXPECT_FALSE(CompileMasker(options).ok());
}

TEST(TemplateMiner, GeneralisationKeepsIdAndExtractsParams) {
  MinerOptions options;
  TemplateMiner miner(options, MustMasker(options));
  std::vector<std::string> params;
  const uint64_t a = miner.MineMessage("svc", "session opened for user alice in 12 ms", 1, &params);
  const uint64_t b = miner.MineMessage("svc", "session opened for user bob in 15 ms", 2, &params);
  EXPECT_EQ(a, b);
  EXPECT_EQ(miner.Find(a)->text, "session opened for user <*> in <*>");
  EXPECT_EQ(miner.Find(a)->count, 2u);
  EXPECT_EQ(miner.counters().generalised, 1u);
  params.clear();
  EXPECT_EQ(miner.MineMessage("svc", "session opened for user carol in 7 ms", 3, &params), a);
  EXPECT_EQ(params, (std::vector<std::string>{"carol", "7 ms"}));
  // Non-word values generalise too, and the id stays.
  EXPECT_EQ(miner.MineMessage("svc", "session opened for user x_1 in 7 ms", 3, nullptr), a);
  // A different fixed word is another template.
  EXPECT_NE(miner.MineMessage("svc", "session closed for user alice in 1 ms", 4, nullptr), a);
  // Other services never share templates.
  EXPECT_NE(miner.MineMessage("other", "session opened for user alice in 12 ms", 5, nullptr), a);
}

TEST(TemplateMiner, IdsStableAcrossRestart) {
  MinerOptions options;
  std::shared_ptr<const Masker> masker = MustMasker(options);
  std::vector<std::string> lines = {"start job 1", "stop job 2", "start job 3", "job failed"};
  TemplateMiner first(options, masker);
  std::vector<uint64_t> ids;
  for (const std::string& line : lines) ids.push_back(first.MineMessage("svc", line, 1, nullptr));
  std::vector<MinedTemplate> saved;
  std::vector<TemplateCounts> counted;
  first.TakeDirty(&saved, &counted);
  EXPECT_EQ(saved.size(), 3u);
  EXPECT_TRUE(counted.empty());
  // Seen again with its text unchanged: only its counters are dirty.
  EXPECT_EQ(first.MineMessage("svc", "job failed", 7, nullptr), ids[3]);
  std::vector<MinedTemplate> changed;
  first.TakeDirty(&changed, &counted);
  EXPECT_TRUE(changed.empty());
  ASSERT_EQ(counted.size(), 1u);
  EXPECT_EQ(counted[0].id, ids[3]);
  EXPECT_EQ(counted[0].count, 2u);
  EXPECT_EQ(counted[0].last_seen_ns, 7);
  counted.clear();
  first.TakeDirty(&changed, &counted);
  EXPECT_TRUE(changed.empty() && counted.empty());
  const uint64_t next_before = first.MineMessage("svc", "brand new thing", 1, nullptr);

  TemplateMiner second(options, masker);
  second.Restore(saved);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(second.MineMessage("svc", lines[i], 1, nullptr), ids[i]) << lines[i];
  }
  EXPECT_EQ(second.MineMessage("svc", "brand new thing", 1, nullptr), next_before);
  EXPECT_EQ(second.Snapshot().size(), 4u);
}

TEST(TemplateMiner, DeterministicAcrossThreadCountsAndBatches) {
  std::vector<std::string> messages;
  for (int i = 0; i < 3000; ++i) {
    messages.push_back("request " + std::to_string(i % 7) + " served in " + std::to_string(i) +
                       " ms by worker-" + std::to_string(i % 5) +
                       (i % 3 == 0 ? " status=ok" : " status=failed") + " kind" +
                       std::string(1, static_cast<char>('a' + i % 4)));
  }
  MinerOptions options;
  std::shared_ptr<const Masker> masker = MustMasker(options);
  auto run = [&](size_t threads, size_t batch) {
    TemplateMiner miner(options, masker);
    std::vector<uint64_t> ids;
    std::vector<PreparedMessage> prepared(batch);
    for (size_t start = 0; start < messages.size(); start += batch) {
      const size_t count = std::min(batch, messages.size() - start);
      std::vector<std::thread> workers;
      for (size_t w = 0; w < threads; ++w) {
        workers.emplace_back([&, w] {
          for (size_t i = w; i < count; i += threads) {
            TemplateMiner::Prepare(*masker, messages[start + i], &prepared[i]);
          }
        });
      }
      for (std::thread& worker : workers) worker.join();
      for (size_t i = 0; i < count; ++i) {
        ids.push_back(miner.Mine("svc", prepared[i], 0, nullptr));
      }
    }
    return ids;
  };
  const std::vector<uint64_t> serial = run(1, 1);
  EXPECT_EQ(run(2, 64), serial);
  EXPECT_EQ(run(4, 1000), serial);
  EXPECT_EQ(run(3, 7), serial);
}

TEST(TemplateMiner, ServicesMinedConcurrentlyGiveTheSerialIds) {
  // Messages of 6 services interleaved; each service mined on its own
  // thread (as the ingest pipeline does) must give the ids of a serial run.
  std::vector<std::pair<std::string, std::string>> input;
  for (int i = 0; i < 6000; ++i) {
    const std::string service = "svc-" + std::to_string(i % 6);
    input.emplace_back(service, "job " + std::to_string(i % 11) + " step" +
                                    std::string(1, static_cast<char>('a' + i % 3)) +
                                    " took " + std::to_string(i) + " ms on node-" +
                                    std::to_string(i % 13));
  }
  MinerOptions options;
  std::shared_ptr<const Masker> masker = MustMasker(options);
  TemplateMiner serial(options, masker);
  std::vector<uint64_t> expected;
  for (const auto& [service, message] : input) {
    expected.push_back(serial.MineMessage(service, message, 0, nullptr));
  }

  TemplateMiner miner(options, masker);
  std::vector<uint64_t> got(input.size());
  std::vector<std::vector<size_t>> rows;
  std::vector<TemplateMiner::ServiceHandle> handles;
  for (size_t i = 0; i < input.size(); ++i) {
    const TemplateMiner::ServiceHandle h = miner.ServiceOf(input[i].first);
    if (rows.size() <= h) {
      rows.resize(h + 1);
      handles.resize(h + 1);
    }
    handles[h] = h;
    rows[h].push_back(i);
  }
  std::vector<std::thread> workers;
  for (size_t h = 0; h < rows.size(); ++h) {
    workers.emplace_back([&, h] {
      PreparedMessage prepared;
      for (size_t i : rows[h]) {
        TemplateMiner::Prepare(*masker, input[i].second, &prepared);
        got[i] = miner.Mine(handles[h], prepared, 0, nullptr);
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  EXPECT_EQ(got, expected);
  EXPECT_EQ(miner.counters().templates, serial.counters().templates);
  EXPECT_EQ(miner.counters().services, 6u);
}

TEST(TemplateMiner, AHandfulOfWordsStayTemplatesManyBecomeAVariable) {
  MinerOptions options;
  TemplateMiner miner(options, MustMasker(options));
  // Verbs in one position: each its own template.
  const uint64_t opened = miner.MineMessage("svc", "connection opened to db", 0, nullptr);
  const uint64_t closed = miner.MineMessage("svc", "connection closed to db", 0, nullptr);
  EXPECT_NE(opened, closed);
  EXPECT_EQ(miner.MineMessage("svc", "connection opened to db", 0, nullptr), opened);

  // Random names in one position: after a bounded number of variants the
  // position becomes a wildcard of the oldest variant, whose id stays.
  std::vector<uint64_t> ids;
  for (int i = 0; i < 200; ++i) {
    std::string name;
    for (int k = 0, v = i * 7919 + 17; k < 6; ++k, v /= 5) {
      name.push_back(static_cast<char>('a' + (v + k * 3) % 26));
    }
    ids.push_back(miner.MineMessage("svc", "upstream call to " + name + " returned ok", 0,
                                    nullptr));
  }
  std::set<uint64_t> distinct(ids.begin(), ids.end());
  EXPECT_LE(distinct.size(), 20u);
  EXPECT_EQ(ids.back(), ids.front());
  EXPECT_EQ(miner.Find(ids.front())->text, "upstream call to <*> returned ok");
  EXPECT_EQ(miner.counters().over_cap, 0u);
}

TEST(TemplateMiner, CapSendsNewShapesToOverflow) {
  MinerOptions options;
  options.max_templates_per_service = 3;
  TemplateMiner miner(options, MustMasker(options));
  const uint64_t known = miner.MineMessage("svc", "alpha happened", 0, nullptr);
  miner.MineMessage("svc", "beta went wrong today", 0, nullptr);
  miner.MineMessage("svc", "gamma is fine", 0, nullptr);
  const uint64_t over = miner.MineMessage("svc", "delta arrived late again now", 0, nullptr);
  EXPECT_EQ(miner.Find(over)->text, "<overflow>");
  EXPECT_EQ(miner.MineMessage("svc", "epsilon", 0, nullptr), over);
  EXPECT_EQ(miner.counters().over_cap, 2u);
  // Known templates still match past the cap.
  EXPECT_EQ(miner.MineMessage("svc", "alpha happened", 0, nullptr), known);
  // The cap is per service.
  EXPECT_NE(miner.Find(miner.MineMessage("other", "delta arrived", 0, nullptr))->text,
            "<overflow>");
  EXPECT_EQ(TemplateIdString(over).size(), 16u);
}

TEST(TemplateMiner, OptionsValidate) {
  MinerOptions options;
  options.similarity = 0;
  EXPECT_FALSE(options.Validate().ok());
  options.similarity = 0.5;
  options.max_templates_per_service = 0;
  EXPECT_FALSE(options.Validate().ok());
}

TEST(TemplateMiner, MaxTokensFoldsTheRest) {
  MinerOptions options;
  options.max_tokens = 3;
  EXPECT_EQ(Masked("a b c d e", options), "a b <*>");
  EXPECT_EQ(Masked("", options), "");
}

}  // namespace
}  // namespace faultline::ingest
