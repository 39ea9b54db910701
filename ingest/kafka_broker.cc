#include "ingest/kafka_broker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ingest/kafka_producer.h"

namespace faultline::ingest {

namespace {

// librdkafka's own log lines, warnings and worse only (syslog levels: 4 is
// warning), so that its debug chatter stays out of the broker's output.
void LogToStderr(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  if (level > 4) return;
  std::fprintf(stderr, "faultline: kafka: %s %s: %s\n", rd_kafka_name(rk), facility, message);
}

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const noexcept { rd_kafka_conf_destroy(conf); }
};
struct ClusterDeleter {
  void operator()(rd_kafka_mock_cluster_t* cluster) const noexcept {
    rd_kafka_mock_cluster_destroy(cluster);
  }
};

// An owned socket descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string ErrnoText(int error) { return std::strerror(error); }

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

// Forwards TCP connections made to 127.0.0.1:port to the brokers' own
// listeners, one broker after the other, so that a fixed bootstrap address
// exists although the mock picks its ports. One thread polls every socket;
// the traffic is a client's bootstrap connection (metadata and version
// requests), so a single thread is plenty.
class TcpRelay {
 public:
  static Result<std::unique_ptr<TcpRelay>> Start(int port, std::vector<uint16_t> upstream_ports) {
    Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (listener.get() < 0) return Status::IOError("relay socket: " + ErrnoText(errno));
    int on = 1;
    if (::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0) {
      return Status::IOError("relay SO_REUSEADDR: " + ErrnoText(errno));
    }
    sockaddr_in addr = Loopback(static_cast<uint16_t>(port));
    if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
      return Status::IOError("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " +
                             ErrnoText(errno) +
                             (errno == EADDRINUSE ? " (another broker running? pick another "
                                                    "--port, or 0 for any)"
                                                  : ""));
    }
    if (::listen(listener.get(), 64) != 0) {
      return Status::IOError("relay listen: " + ErrnoText(errno));
    }
    std::array<int, 2> wake{-1, -1};
    if (::pipe2(wake.data(), O_CLOEXEC | O_NONBLOCK) != 0) {
      return Status::IOError("relay pipe: " + ErrnoText(errno));
    }
    auto relay = std::unique_ptr<TcpRelay>(new TcpRelay(
        std::move(listener), Fd(wake[0]), Fd(wake[1]), std::move(upstream_ports)));
    relay->thread_ = std::thread([r = relay.get()] { r->Run(); });
    return relay;
  }

  ~TcpRelay() { Stop(); }

  void Stop() {
    if (!thread_.joinable()) return;
    stopping_.store(true);
    const char byte = 1;
    // If the pipe is full, a wake-up is pending anyway.
    [[maybe_unused]] ssize_t written = ::write(wake_write_.get(), &byte, 1);
    thread_.join();
  }

 private:
  // One relayed connection: bytes read from one side wait in that
  // direction's buffer until the other side takes them.
  struct Direction {
    std::vector<char> buffer = std::vector<char>(64 << 10);
    size_t begin = 0;
    size_t end = 0;
    bool pending() const { return begin < end; }
  };
  struct Link {
    Fd client;
    Fd upstream;
    Direction to_upstream;
    Direction to_client;
    bool closed = false;
  };

  TcpRelay(Fd listener, Fd wake_read, Fd wake_write, std::vector<uint16_t> upstream_ports)
      : listener_(std::move(listener)),
        wake_read_(std::move(wake_read)),
        wake_write_(std::move(wake_write)),
        upstream_ports_(std::move(upstream_ports)) {}

  void Accept() {
    Fd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (client.get() < 0) return;
    // Brokers in turn, skipping one that is down, like a client walking its
    // bootstrap list. A connect to a loopback port completes or is refused
    // at once, so it may block this thread.
    for (size_t tries = 0; tries < upstream_ports_.size(); ++tries) {
      const uint16_t port = upstream_ports_[next_upstream_++ % upstream_ports_.size()];
      Fd upstream(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (upstream.get() < 0) return;
      sockaddr_in addr = Loopback(port);
      if (::connect(upstream.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        continue;
      }
      ::fcntl(upstream.get(), F_SETFL, ::fcntl(upstream.get(), F_GETFL) | O_NONBLOCK);
      Link& link = links_.emplace_back();
      link.client = std::move(client);
      link.upstream = std::move(upstream);
      return;
    }
    // Every broker is down: the client sees its connection close.
  }

  // Moves bytes from `from` through `direction` to `to` as far as the
  // sockets allow. False when the connection is finished (EOF or error).
  static bool Pump(int from, short from_events, int to, short to_events, Direction* direction) {
    if ((to_events & POLLOUT) != 0 && direction->pending()) {
      ssize_t n = ::send(to, direction->buffer.data() + direction->begin,
                         direction->end - direction->begin, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
      if (n > 0) direction->begin += static_cast<size_t>(n);
      if (direction->begin == direction->end) direction->begin = direction->end = 0;
    }
    if ((from_events & (POLLIN | POLLHUP | POLLERR)) != 0 && !direction->pending()) {
      ssize_t n = ::recv(from, direction->buffer.data(), direction->buffer.size(), 0);
      if (n == 0) return false;
      if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
      if (n > 0) {
        direction->begin = 0;
        direction->end = static_cast<size_t>(n);
      }
    }
    return true;
  }

  void Run() {
    std::vector<pollfd> fds;
    while (!stopping_.load()) {
      fds.clear();
      fds.push_back({wake_read_.get(), POLLIN, 0});
      fds.push_back({listener_.get(), POLLIN, 0});
      for (Link& link : links_) {
        // Read a side only when its buffer is empty; write when one waits.
        short client_events = static_cast<short>((link.to_upstream.pending() ? 0 : POLLIN) |
                                                 (link.to_client.pending() ? POLLOUT : 0));
        short upstream_events = static_cast<short>((link.to_client.pending() ? 0 : POLLIN) |
                                                   (link.to_upstream.pending() ? POLLOUT : 0));
        fds.push_back({link.client.get(), client_events, 0});
        fds.push_back({link.upstream.get(), upstream_events, 0});
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        std::fprintf(stderr, "faultline: broker relay: poll: %s\n", ErrnoText(errno).c_str());
        return;
      }
      if (fds[1].revents & POLLIN) Accept();
      size_t at = 2;
      for (auto it = links_.begin(); it != links_.end() && at + 1 < fds.size(); at += 2) {
        Link& link = *it;
        const short client = fds[at].revents;
        const short upstream = fds[at + 1].revents;
        bool open = Pump(link.client.get(), client, link.upstream.get(), upstream,
                         &link.to_upstream) &&
                    Pump(link.upstream.get(), upstream, link.client.get(), client,
                         &link.to_client);
        it = open ? std::next(it) : links_.erase(it);
      }
    }
  }

  Fd listener_;
  Fd wake_read_;
  Fd wake_write_;
  std::vector<uint16_t> upstream_ports_;
  size_t next_upstream_ = 0;
  std::list<Link> links_;  // only the relay thread touches it
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

Status CheckPartitions(int partitions) {
  if (partitions < 1 || partitions > 10000) {
    return Status::InvalidArgument("partitions must be 1..10000, got " +
                                   std::to_string(partitions));
  }
  return Status::Ok();
}

// The port of each "host:port" in a comma-separated list.
std::vector<uint16_t> PortsOf(const std::string& bootstraps) {
  std::vector<uint16_t> ports;
  size_t start = 0;
  while (start < bootstraps.size()) {
    size_t comma = bootstraps.find(',', start);
    if (comma == std::string::npos) comma = bootstraps.size();
    const size_t colon = bootstraps.rfind(':', comma - 1);
    uint16_t port = 0;
    if (colon != std::string::npos && colon > start &&
        std::from_chars(bootstraps.data() + colon + 1, bootstraps.data() + comma, port).ec ==
            std::errc()) {
      ports.push_back(port);
    }
    start = comma + 1;
  }
  return ports;
}

}  // namespace

Status BrokerOptions::Validate() const {
  if (brokers < 1 || brokers > 3) {
    return Status::InvalidArgument("brokers must be 1..3, got " + std::to_string(brokers));
  }
  if (port < 0 || port > 65535) {
    return Status::InvalidArgument("port must be 0..65535, got " + std::to_string(port));
  }
  FL_RETURN_IF_ERROR(CheckPartitions(partitions));
  for (const std::string& topic : topics) FL_RETURN_IF_ERROR(ValidateTopicName(topic));
  return Status::Ok();
}

struct EmbeddedBroker::Impl {
  // Destroyed in reverse order, which matters: the relay, then the cluster,
  // then the handle the cluster lives in.
  std::unique_ptr<rd_kafka_t, HandleDeleter> handle;
  std::unique_ptr<rd_kafka_mock_cluster_t, ClusterDeleter> cluster;
  std::unique_ptr<TcpRelay> relay;
  std::string bootstrap_servers;
  int brokers = 0;
  int replication_factor = 1;
  // Serialises Stop() against the calls that use the cluster.
  std::mutex mu;

  Status CheckBroker(int broker_id) const {
    if (broker_id < 1 || broker_id > brokers) {
      return Status::InvalidArgument("no broker " + std::to_string(broker_id) + " (brokers are 1.." +
                                     std::to_string(brokers) + ")");
    }
    if (cluster == nullptr) return Status::Unavailable("the broker is stopped");
    return Status::Ok();
  }

  // The error of a mock call as a Status naming what was tried.
  static Status Check(rd_kafka_resp_err_t err, int broker_id, const char* what) {
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
    return Status::Internal("broker " + std::to_string(broker_id) + " " + what + ": " +
                            rd_kafka_err2str(err));
  }
};

EmbeddedBroker::EmbeddedBroker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EmbeddedBroker::~EmbeddedBroker() { Stop(); }

Result<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Start(const BrokerOptions& options) {
  FL_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->brokers = options.brokers;
  impl->replication_factor = std::min(3, options.brokers);

  // The mock needs a client handle to live in; a producer that never
  // produces is the lightest. It has no bootstrap servers of its own.
  std::unique_ptr<rd_kafka_conf_t, ConfDeleter> conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), LogToStderr);
  char errstr[512];
  if (rd_kafka_conf_set(conf.get(), "client.id", "faultline-broker", errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    return Status::Internal(std::string("librdkafka conf: ") + errstr);
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) return Status::Internal(std::string("cannot create a Kafka handle: ") + errstr);
  conf.release();  // owned by rk now
  impl->handle.reset(rk);

  impl->cluster.reset(rd_kafka_mock_cluster_new(rk, options.brokers));
  if (impl->cluster == nullptr) {
    return Status::Internal("librdkafka could not start its mock cluster (see its log above)");
  }
  const std::string brokers = rd_kafka_mock_cluster_bootstraps(impl->cluster.get());
  impl->bootstrap_servers = brokers;
  if (options.port != 0) {
    FL_ASSIGN_OR_RETURN(impl->relay, TcpRelay::Start(options.port, PortsOf(brokers)));
    impl->bootstrap_servers = "127.0.0.1:" + std::to_string(options.port);
  }
  auto broker = std::unique_ptr<EmbeddedBroker>(new EmbeddedBroker(std::move(impl)));
  for (const std::string& topic : options.topics) {
    FL_RETURN_IF_ERROR(broker->CreateTopic(topic, options.partitions));
  }
  return broker;
}

const std::string& EmbeddedBroker::bootstrap_servers() const { return impl_->bootstrap_servers; }

Status EmbeddedBroker::CreateTopic(const std::string& topic, int partitions) {
  FL_RETURN_IF_ERROR(ValidateTopicName(topic));
  FL_RETURN_IF_ERROR(CheckPartitions(partitions));
  std::scoped_lock lock(impl_->mu);
  if (impl_->cluster == nullptr) return Status::Unavailable("the broker is stopped");
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(impl_->cluster.get(), topic.c_str(),
                                                       partitions, impl_->replication_factor);
  if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    return Status::InvalidArgument("topic '" + topic + "' exists already");
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Internal("cannot create topic '" + topic + "': " + rd_kafka_err2str(err));
  }
  return Status::Ok();
}

Status EmbeddedBroker::SetBrokerDown(int broker_id) {
  std::scoped_lock lock(impl_->mu);
  FL_RETURN_IF_ERROR(impl_->CheckBroker(broker_id));
  return Impl::Check(rd_kafka_mock_broker_set_down(impl_->cluster.get(), broker_id), broker_id,
                     "down");
}

Status EmbeddedBroker::SetBrokerUp(int broker_id) {
  std::scoped_lock lock(impl_->mu);
  FL_RETURN_IF_ERROR(impl_->CheckBroker(broker_id));
  return Impl::Check(rd_kafka_mock_broker_set_up(impl_->cluster.get(), broker_id), broker_id,
                     "up");
}

Status EmbeddedBroker::SetBrokerRtt(int broker_id, int rtt_ms) {
  if (rtt_ms < 0) return Status::InvalidArgument("rtt_ms must be >= 0");
  std::scoped_lock lock(impl_->mu);
  FL_RETURN_IF_ERROR(impl_->CheckBroker(broker_id));
  return Impl::Check(rd_kafka_mock_broker_set_rtt(impl_->cluster.get(), broker_id, rtt_ms),
                     broker_id, "rtt");
}

void EmbeddedBroker::PushRequestErrors(KafkaApi api, const std::vector<KafkaError>& errors) {
  std::scoped_lock lock(impl_->mu);
  if (impl_->cluster == nullptr || errors.empty()) return;
  std::vector<rd_kafka_resp_err_t> codes;
  codes.reserve(errors.size());
  for (KafkaError e : errors) codes.push_back(static_cast<rd_kafka_resp_err_t>(e));
  rd_kafka_mock_push_request_errors_array(impl_->cluster.get(), static_cast<int16_t>(api),
                                          codes.size(), codes.data());
}

void EmbeddedBroker::SetTopicError(const std::string& topic, KafkaError error) {
  std::scoped_lock lock(impl_->mu);
  if (impl_->cluster == nullptr) return;
  rd_kafka_mock_topic_set_error(impl_->cluster.get(), topic.c_str(),
                                static_cast<rd_kafka_resp_err_t>(error));
}

void EmbeddedBroker::Stop() {
  std::scoped_lock lock(impl_->mu);
  if (impl_->relay != nullptr) impl_->relay->Stop();
  impl_->relay.reset();
  impl_->cluster.reset();
  impl_->handle.reset();
}

}  // namespace faultline::ingest
