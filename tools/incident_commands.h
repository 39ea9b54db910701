// `faultline explain`, `faultline incidents` and `faultline status`: the
// root-cause answer over a store (correlate/incident.h). tools/cli.cc adds
// them with Add*Command and runs them with Run*Command once parsed. Exit
// codes as tools/cli.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "correlate/incident.h"

namespace CLI {
class App;
}  // namespace CLI

namespace faultline::tools {

struct IncidentFlags {
  std::string id;                   // explain ID, status ID
  std::string at;                   // explain --at T
  std::string window = "10m";       // explain --at: centred on T
  std::string after;                // explain --at: confirmation data after the window
  std::string since, until, zone = "UTC";  // incidents
  std::string history = "1h";       // baseline data before the window
  std::string output;               // per command default
  std::string config;               // [[signals.rules]], [topology] edges
  bool stored = false;              // incidents: what serve stored
  std::string html;                 // report: the page to write
};

CLI::App* AddExplainCommand(CLI::App* app, IncidentFlags* flags);
int RunExplainCommand(const std::string& db, const IncidentFlags& flags);

CLI::App* AddIncidentsCommand(CLI::App* app, IncidentFlags* flags);
int RunIncidentsCommand(const std::string& db, const IncidentFlags& flags);

CLI::App* AddStatusCommand(CLI::App* app, IncidentFlags* flags);
int RunStatusCommand(const std::string& db, const IncidentFlags& flags);

CLI::App* AddReportCommand(CLI::App* app, IncidentFlags* flags);
int RunReportCommand(const std::string& db, const IncidentFlags& flags);

// The same answers for `faultline eval`: a store opened once (flags: config
// and history), then incidents over a range as `incidents` gives them, or
// "what went wrong within `window` around `at`" as `explain --at` answers
// it (nullopt: nothing changed).
struct IncidentSession;
Result<std::shared_ptr<IncidentSession>> OpenIncidentSession(const std::string& db,
                                                             const IncidentFlags& flags);
Result<std::vector<correlate::Incident>> SessionIncidents(IncidentSession* session,
                                                          int64_t since_ns, int64_t until_ns);
Result<std::optional<correlate::Incident>> SessionExplain(IncidentSession* session,
                                                          int64_t at_ns, int64_t window_ns);

}  // namespace faultline::tools
