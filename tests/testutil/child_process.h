// A child process for integration tests: a server (`faultline broker`,
// `faultline serve`) started in the background, its stdout and stderr going
// to files, signalled and waited for by the test. The destructor kills it
// (SIGKILL) if it still runs, so a failing test leaves nothing behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace faultline::testing {

class ChildProcess {
 public:
  // Starts argv[0] with `args` (no shell). stdout and stderr are appended to
  // `out_path` and `err_path`.
  ChildProcess(const std::vector<std::string>& args, const std::string& out_path,
               const std::string& err_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  void Signal(int signal);
  // Waits up to `timeout` for the process to exit; its exit code, 128+signal
  // when killed by a signal, or -1 on timeout (it is left running).
  int Wait(std::chrono::milliseconds timeout);
  bool Running();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
};

// Polls `condition` every 50 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace faultline::testing
