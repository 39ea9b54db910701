// faultline_bench_stream: `faultline serve` end to end on the embedded Kafka
// broker, with the producer running at the same time on the same cores.
//
//   1. Throughput: records produced as fast as the producer goes (held back
//      only while more than --window records are not yet consumed by serve,
//      since the embedded broker keeps only ~5 MiB per partition and drops
//      older data; what serve has consumed is safe, and serve's own
//      backpressure bounds what it holds), measured as records stored per
//      second from the first produce to the last store write; --runs bursts,
//      median.
//   2. Latency: --rate records/s for --seconds; the produce-to-searchable
//      time of every record, from serve's faultline_produce_to_stored_seconds
//      histogram (Kafka timestamp, set when the producer is handed the
//      record, to the store write after which searches see it): p50, p99.
//
// The broker and the producer run in this process; serve is a child process,
// measured from outside through its /metrics endpoint.
//
// Usage: faultline_bench_stream --faultline PATH --corpus NDJSON
//          [--records N] [--runs R] [--rate R] [--seconds S] [--window N]
//          [--serve-arg ARG]...  (e.g. --serve-arg --threads --serve-arg 3)
// Build in Release (bench/stream.sh does).

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "ingest/kafka_broker.h"
#include "ingest/kafka_producer.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Flags {
  std::string faultline;
  std::string corpus;
  int64_t records = 2000000;
  int runs = 3;
  int rate = 100000;
  int seconds = 20;
  int64_t window = 40000;
  std::vector<std::string> serve_args;  // --serve-arg, passed to serve
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "faultline_bench_stream: %s\n", message.c_str());
  std::exit(1);
}

// `faultline serve` as a child process, stderr to a file.
class Serve {
 public:
  Serve(const Flags& flags, const std::string& brokers, const std::string& topic,
        const std::string& dir)
      : log_(dir + "/serve.err") {
    std::vector<std::string> args = {flags.faultline, "serve",     "--brokers",
                                     brokers,         "--topic",   topic,
                                     "--group",       "bench",     "--db",
                                     dir + "/db",     "--metrics-addr", "127.0.0.1:0"};
    args.insert(args.end(), flags.serve_args.begin(), flags.serve_args.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
      Die("cannot start " + flags.faultline);
    }
    posix_spawn_file_actions_destroy(&actions);
    const auto until = Clock::now() + 60s;
    while (Clock::now() < until && port_ == 0) {
      std::ifstream in(log_);
      std::stringstream text;
      text << in.rdbuf();
      const std::string log = text.str();
      const std::string marker = "metrics: http://127.0.0.1:";
      const size_t at = log.find(marker);
      if (at != std::string::npos) port_ = std::atoi(log.c_str() + at + marker.size());
      if (port_ == 0) std::this_thread::sleep_for(50ms);
    }
    if (port_ == 0) Die("serve did not start; see " + log_);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
  }
  ~Serve() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    // serve's summary line (messages, records, batches).
    std::ifstream in(log_);
    std::string line;
    std::string last;
    while (std::getline(in, line)) {
      if (line.find("stopped after") != std::string::npos) last = line;
    }
    if (!last.empty()) std::printf("\n%s\n", last.c_str());
  }

  // The samples of a scrape, by full sample name (with labels).
  std::map<std::string, double> Scrape() {
    std::map<std::string, double> samples;
    httplib::Result res = client_->Get("/metrics");
    if (!res || res->status != 200) return samples;
    std::istringstream lines(res->body);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty() || line[0] == '#') continue;
      const size_t space = line.rfind(' ');
      if (space == std::string::npos) continue;
      samples[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
    }
    return samples;
  }
  double Stored() { return Scrape()["faultline_records_stored_total"]; }
  // Records stored and Kafka messages consumed, from one scrape.
  std::pair<double, double> StoredAndConsumed() {
    std::map<std::string, double> samples = Scrape();
    return {samples["faultline_records_stored_total"], samples["faultline_kafka_messages_total"]};
  }
  bool Ready() {
    httplib::Result res = client_->Get("/readyz");
    return res && res->status == 200;
  }

 private:
  std::string log_;
  pid_t pid_ = 0;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

// The histogram's cumulative buckets (upper bound -> count) from a scrape.
std::vector<std::pair<double, double>> Buckets(const std::map<std::string, double>& samples,
                                               const std::string& name) {
  std::vector<std::pair<double, double>> buckets;
  const std::string prefix = name + "_bucket{le=\"";
  for (const auto& [key, value] : samples) {
    if (key.rfind(prefix, 0) != 0) continue;
    const std::string le = key.substr(prefix.size(), key.size() - prefix.size() - 2);
    buckets.push_back({le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr), value});
  }
  std::sort(buckets.begin(), buckets.end());
  return buckets;
}

// Quantile q of the observations between two scrapes, interpolated linearly
// within its bucket (as Prometheus' histogram_quantile does).
double Quantile(const std::vector<std::pair<double, double>>& before,
                const std::vector<std::pair<double, double>>& after, double q) {
  if (after.empty()) return NAN;
  std::vector<std::pair<double, double>> delta = after;
  for (size_t i = 0; i < delta.size() && i < before.size(); ++i) delta[i].second -= before[i].second;
  const double total = delta.back().second;
  if (total <= 0) return NAN;
  const double rank = q * total;
  double lower = 0;
  double below = 0;
  for (const auto& [bound, count] : delta) {
    if (count >= rank) {
      if (std::isinf(bound)) return lower;
      return lower + (bound - lower) * (rank - below) / std::max(count - below, 1.0);
    }
    lower = bound;
    below = count;
  }
  return lower;
}

std::vector<std::string> ReadCorpus(const std::string& path, size_t max_lines) {
  std::ifstream in(path);
  if (!in) Die("cannot read " + path);
  std::vector<std::string> lines;
  std::string line;
  while (lines.size() < max_lines && std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  if (lines.empty()) Die(path + " is empty");
  return lines;
}

std::string ServiceOf(const std::string& line) {
  const size_t at = line.find("\"service\":\"");
  if (at == std::string::npos) return "";
  const size_t from = at + 11;
  return line.substr(from, line.find('"', from) - from);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--faultline") flags.faultline = next();
    else if (arg == "--corpus") flags.corpus = next();
    else if (arg == "--records") flags.records = std::atoll(next().c_str());
    else if (arg == "--runs") flags.runs = std::atoi(next().c_str());
    else if (arg == "--rate") flags.rate = std::atoi(next().c_str());
    else if (arg == "--seconds") flags.seconds = std::atoi(next().c_str());
    else if (arg == "--window") flags.window = std::atoll(next().c_str());
    else if (arg == "--serve-arg") flags.serve_args.push_back(next());
    else Die("unknown flag " + arg + " (see the comment at the top of bench/stream.cc)");
  }
  if (flags.faultline.empty() || flags.corpus.empty()) Die("--faultline and --corpus are required");

  const std::vector<std::string> corpus = ReadCorpus(flags.corpus, 500000);
  std::vector<std::string> keys;
  double corpus_bytes = 0;
  for (const std::string& line : corpus) {
    keys.push_back(ServiceOf(line));
    corpus_bytes += static_cast<double>(line.size());
  }
  std::printf("corpus: %zu distinct lines, %.0f bytes a record on average\n", corpus.size(),
              corpus_bytes / static_cast<double>(corpus.size()));

  faultline::ingest::BrokerOptions broker_options;
  broker_options.partitions = 8;
  broker_options.topics = {"bench-logs"};
  auto broker = faultline::ingest::EmbeddedBroker::Start(broker_options);
  if (!broker.ok()) Die(broker.status().ToString());
  const std::string brokers = (*broker)->bootstrap_servers();

  const std::string dir =
      (std::filesystem::temp_directory_path() / ("faultline-bench-stream-" + std::to_string(getpid())))
          .string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto serve = std::make_unique<Serve>(flags, brokers, "bench-logs", dir);
  const auto ready_by = Clock::now() + 60s;
  while (!serve->Ready() && Clock::now() < ready_by) std::this_thread::sleep_for(50ms);

  faultline::ingest::ProducerOptions producer_options;
  producer_options.bootstrap_servers = brokers;
  producer_options.properties = {{"linger.ms", "5"}, {"batch.num.messages", "10000"}};
  auto producer = faultline::ingest::KafkaProducer::Create(producer_options);
  if (!producer.ok()) Die(producer.status().ToString());

  size_t next_line = 0;
  auto produce_one = [&] {
    const size_t i = next_line++ % corpus.size();
    faultline::Status s = (*producer)->Produce("bench-logs", keys[i], corpus[i]);
    if (!s.ok()) Die("produce: " + s.ToString());
  };

  // 1. Throughput.
  std::printf("\n1. throughput: %lld records a run, producer and serve on the same cores\n",
              static_cast<long long>(flags.records));
  std::vector<double> rates;
  double stored_total = serve->Stored();
  double consumed_total = serve->StoredAndConsumed().second;
  for (int run = 0; run < flags.runs; ++run) {
    std::atomic<double> stored{stored_total};
    std::atomic<double> consumed{consumed_total};
    std::atomic<bool> done{false};
    const double target = stored_total + static_cast<double>(flags.records);
    std::thread watcher([&] {
      while (!done.load()) {
        const auto [s, c] = serve->StoredAndConsumed();
        stored.store(s);
        consumed.store(c);
        if (s >= target) break;
        std::this_thread::sleep_for(10ms);
      }
    });
    const auto start = Clock::now();
    int64_t waits = 0;
    for (int64_t n = 0; n < flags.records; ++n) {
      while (static_cast<double>(n) - (consumed.load() - consumed_total) >
             static_cast<double>(flags.window)) {
        ++waits;
        std::this_thread::sleep_for(1ms);
        (*producer)->Poll(0);
      }
      produce_one();
    }
    const double produce_seconds = Seconds(Clock::now() - start);
    const auto deadline = Clock::now() + 120s;
    while (stored.load() < target && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
    const double seconds = Seconds(Clock::now() - start);
    done.store(true);
    watcher.join();
    const double got = stored.load() - stored_total;
    stored_total = stored.load();
    consumed_total = serve->StoredAndConsumed().second;
    if (got < static_cast<double>(flags.records)) {
      std::printf("  run %d: only %.0f of %lld records stored within 120 s\n", run + 1, got,
                  static_cast<long long>(flags.records));
      continue;
    }
    const double rate = got / seconds;
    rates.push_back(rate);
    std::printf("  run %d: %.0f records/s stored (%.1f MB/s), producer done after %.2f s, "
                "all stored after %.2f s, producer held back %lld times\n",
                run + 1, rate, rate * corpus_bytes / static_cast<double>(corpus.size()) / 1e6,
                produce_seconds, seconds, static_cast<long long>(waits));
  }
  if (!rates.empty()) {
    std::printf("  median: %.0f records/s stored (target: at least 400,000)\n", Median(rates));
  }

  // 2. Latency at a fixed rate.
  std::printf("\n2. produce-to-searchable latency at %d records/s for %d s\n", flags.rate,
              flags.seconds);
  const auto before = Buckets(serve->Scrape(), "faultline_produce_to_stored_seconds");
  const int64_t total = static_cast<int64_t>(flags.rate) * flags.seconds;
  const auto start = Clock::now();
  for (int64_t n = 0; n < total; ++n) {
    produce_one();
    if (n % 1000 == 999) {
      std::this_thread::sleep_until(start + std::chrono::microseconds((n + 1) * 1000000 / flags.rate));
    }
  }
  const double target = stored_total + static_cast<double>(total);
  const auto deadline = Clock::now() + 60s;
  double stored = 0;
  while ((stored = serve->Stored()) < target && Clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  const auto after = Buckets(serve->Scrape(), "faultline_produce_to_stored_seconds");
  std::printf("  %.0f of %lld records stored; achieved rate %.0f records/s\n", stored - stored_total,
              static_cast<long long>(total),
              static_cast<double>(total) / Seconds(Clock::now() - start));
  std::printf("  p50 %.3f s, p99 %.3f s, max bucket reached %s (target: p99 under 2 s)\n",
              Quantile(before, after, 0.50), Quantile(before, after, 0.99),
              [&] {
                for (size_t i = 0; i < after.size(); ++i) {
                  const double d = after[i].second - (i < before.size() ? before[i].second : 0);
                  if (d >= after.back().second - before.back().second) {
                    return std::string("le=") + (std::isinf(after[i].first)
                                                     ? std::string("+Inf")
                                                     : std::to_string(after[i].first));
                  }
                }
                return std::string("?");
              }()
                  .c_str());
  (void)(*producer)->Flush(10000);
  serve.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
