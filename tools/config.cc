#include "tools/config.h"

#include <fnmatch.h>

#include <algorithm>
#include <thread>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <tuple>

#include <toml++/toml.h>

#include "core/time.h"
#include "ingest/line_format.h"

namespace faultline::tools {

namespace {

// Why `glob` is not a usable fnmatch(3) pattern, or "". fnmatch itself
// accepts anything (an unclosed '[' is read as a literal), which would hide
// typos.
std::string GlobProblem(std::string_view glob) {
  if (glob.empty()) return "the glob is empty";
  for (size_t i = 0; i < glob.size(); ++i) {
    if (glob[i] == '\\') {
      if (++i == glob.size()) return "the glob ends in a lone '\\'";
    } else if (glob[i] == '[') {
      // A ']' right after '[' or '[!' / '[^' is a member, not the end.
      size_t end = i + 1;
      if (end < glob.size() && (glob[end] == '!' || glob[end] == '^')) ++end;
      if (end < glob.size() && glob[end] == ']') ++end;
      end = glob.find(']', end);
      if (end == std::string_view::npos) {
        return "'[' at character " + std::to_string(i + 1) + " is not closed by ']'";
      }
      i = end;
    }
  }
  return "";
}

// True when some file can get a line format: from [ingest] or a [[sources]]
// entry.
bool HasLineFormat(const Config& config) {
  return config.parser.line_format != nullptr ||
         std::any_of(config.sources.begin(), config.sources.end(),
                     [](const SourceSettings& source) { return source.line_format != nullptr; });
}

// Walks a parsed TOML table, copying known keys into Config and recording a
// ConfigError (with its source line) for anything unknown or ill-typed.
class ConfigReader {
 public:
  ConfigReader(Config* config, std::vector<ConfigError>* errors)
      : config_(config), errors_(errors) {}

  void Read(const toml::table& root) {
    for (const auto& [key, node] : root) {
      std::string name(key.str());
      if (name == "sources") {
        ReadSources(node);
        continue;
      }
      const toml::table* table = node.as_table();
      if (table == nullptr) {
        Error(node, "top-level key '" + name + "' must be a [section]");
        continue;
      }
      if (name == "time") {
        ReadTime(*table);
      } else if (name == "limits") {
        ReadLimits(*table);
      } else if (name == "fields") {
        ReadFields(*table);
      } else if (name == "storage") {
        ReadStorage(*table);
      } else if (name == "ingest") {
        ReadIngest(*table);
      } else if (name == "templates") {
        ReadTemplates(*table);
      } else if (name == "kafka") {
        ReadKafka(*table);
      } else if (name == "signals") {
        ReadSignals(*table);
      } else if (name == "topology") {
        ReadTopology(*table);
      } else if (name == "incidents") {
        ReadIncidents(*table);
      } else {
        Error(node, "unknown section [" + name +
                        "] (known: time, limits, fields, storage, ingest, templates, kafka, "
                        "signals, topology, incidents, [[sources]])");
      }
    }
    CheckTimeLayoutsAreUsed();
  }

 private:
  void Error(const toml::node& node, std::string message) {
    const auto& begin = node.source().begin;
    errors_->push_back(ConfigError{static_cast<int>(begin.line), static_cast<int>(begin.column),
                                   std::move(message)});
  }

  void Unknown(const toml::node& node, const std::string& section, const std::string& key,
               std::initializer_list<std::string_view> known) {
    std::string message = "unknown key '" + key + "' in [" + section + "] (known:";
    bool first = true;
    for (std::string_view k : known) {
      message += first ? " " : ", ";
      message += k;
      first = false;
    }
    message += ")";
    Error(node, std::move(message));
  }

  // Reads an integer in [min, max] into *out.
  template <typename T>
  void Int(const toml::node& node, const std::string& name, int64_t min, int64_t max, T* out) {
    std::optional<int64_t> value = node.value<int64_t>();
    if (!value || !node.is_integer()) {
      Error(node, name + " must be an integer");
      return;
    }
    if (*value < min || *value > max) {
      Error(node, name + " must be between " + std::to_string(min) + " and " +
                      std::to_string(max) + ", got " + std::to_string(*value));
      return;
    }
    *out = static_cast<T>(*value);
  }

  std::optional<std::string> String(const toml::node& node, const std::string& name) {
    const auto* value = node.as_string();
    if (value == nullptr) {
      Error(node, name + " must be a string");
      return std::nullopt;
    }
    return value->get();
  }

  void Bool(const toml::node& node, const std::string& name, bool* out) {
    const auto* value = node.as_boolean();
    if (value == nullptr) {
      Error(node, name + " must be true or false");
      return;
    }
    *out = value->get();
  }

  void Duration(const toml::node& node, const std::string& name, int64_t* out_ns) {
    auto text = String(node, name);
    if (!text) return;
    Result<int64_t> parsed = ParseDuration(*text);
    if (!parsed.ok() || *parsed <= 0) {
      Error(node, name + " must be a positive duration such as \"30s\", \"15m\", \"7d\"; got \"" +
                      *text + "\"");
      return;
    }
    *out_ns = *parsed;
  }

  void ReadTime(const toml::table& table) {
    for (const auto& [key, node] : table) {
      std::string name(key.str());
      if (name == "default_zone") {
        auto text = String(node, "time.default_zone");
        if (!text) continue;
        Result<TimeZone> zone = TimeZone::Load(*text);
        if (!zone.ok()) {
          Error(node, "time.default_zone: " + zone.status().message());
          continue;
        }
        config_->parser.zone = *zone;
      } else {
        Unknown(node, "time", name, {"default_zone"});
      }
    }
  }

  void ReadLimits(const toml::table& table) {
    ingest::ParserOptions& p = config_->parser;
    for (const auto& [key, node] : table) {
      std::string name(key.str());
      std::string full = "limits." + name;
      if (name == "max_line_bytes") {
        Int(node, full, 256, 1LL << 30, &p.max_line_bytes);
      } else if (name == "max_depth") {
        Int(node, full, 1, 1024, &p.max_depth);
      } else if (name == "max_fields") {
        Int(node, full, 1, 1'000'000, &p.max_fields);
      } else if (name == "max_attr_value_bytes") {
        Int(node, full, 16, 1LL << 30, &p.max_attr_value_bytes);
      } else if (name == "max_dead_letter_raw_bytes") {
        Int(node, full, 0, 1LL << 30, &p.max_dead_letter_raw_bytes);
      } else if (name == "min_timestamp") {
        auto text = String(node, full);
        if (!text) continue;
        int64_t ns = 0;
        if (ParseTimestamp(*text, TimeZone(), &ns) != TimeParse::kOk) {
          Error(node, full + " must be an RFC 3339 time, got \"" + *text + "\"");
          continue;
        }
        p.min_ts_ns = ns;
      } else if (name == "max_future") {
        Duration(node, full, &p.max_future_ns);
      } else {
        Unknown(node, "limits", name,
                {"max_line_bytes", "max_depth", "max_fields", "max_attr_value_bytes",
                 "max_dead_letter_raw_bytes", "min_timestamp", "max_future"});
      }
    }
  }

  void ReadFields(const toml::table& table) {
    ingest::FieldAliases& a = config_->parser.aliases;
    const std::pair<std::string_view, std::vector<std::string>*> kTargets[] = {
        {"time", &a.time},
        {"level", &a.level},
        {"message", &a.message},
        {"service", &a.service},
        {"trace_id", &a.trace_id},
        {"span_id", &a.span_id},
        {"parent_span_id", &a.parent_span_id},
        {"duration", &a.duration},
        {"metric_name", &a.metric_name},
        {"metric_value", &a.metric_value},
    };
    for (const auto& [key, node] : table) {
      std::string name(key.str());
      std::vector<std::string>* target = nullptr;
      for (const auto& [field, list] : kTargets) {
        if (field == name) target = list;
      }
      if (target == nullptr) {
        Unknown(node, "fields", name,
                {"time", "level", "message", "service", "trace_id", "span_id", "parent_span_id",
                 "duration", "metric_name", "metric_value"});
        continue;
      }
      std::string full = "fields." + name;
      if (const auto* one = node.as_string()) {
        target->push_back(one->get());
        continue;
      }
      if (!node.is_array()) {
        Error(node, full + " must be a field name or a list of field names");
        continue;
      }
      StringList(node, full, target);
    }
  }

  void ReadSignals(const toml::table& table) {
    for (const auto& [key, node] : table) {
      const std::string name(key.str());
      const std::string full = "signals." + name;
      if (name == "enabled") {
        if (!node.is_boolean()) {
          Error(node, full + " must be true or false");
        } else {
          config_->rollups = *node.value<bool>();
        }
      } else if (name == "bucket") {
        int64_t ns = 0;
        Duration(node, full, &ns);
        if (ns > 0 && (ns < 1'000'000'000 || ns > 3600'000'000'000 || ns % 1'000'000'000 != 0)) {
          Error(node, full + " must be whole seconds between 1s and 1h");
        } else if (ns > 0) {
          config_->rollup.bucket_ns = ns;
        }
      } else if (name == "max_dimension_values") {
        Int(node, full, 1, 1 << 20, &config_->rollup.max_dimension_values);
      } else if (name == "rules") {
        ReadSignalRules(node);
      } else {
        Unknown(node, "signals", name, {"enabled", "bucket", "max_dimension_values", "rules"});
      }
    }
  }

  // A list of non-empty strings into `out`.
  void StringList(const toml::node& node, const std::string& full, std::vector<std::string>* out) {
    const auto* list = node.as_array();
    if (list == nullptr) {
      Error(node, full + " must be a list of strings");
      return;
    }
    for (const auto& item : *list) {
      const auto* text = item.as_string();
      if (text == nullptr || text->get().empty()) {
        Error(item, full + " entries must be non-empty strings");
        continue;
      }
      out->push_back(text->get());
    }
  }

  void ReadTopology(const toml::table& table) {
    for (const auto& [key, node] : table) {
      const std::string name(key.str());
      const std::string full = "topology." + name;
      if (name == "horizon") {
        int64_t ns = 0;
        Duration(node, full, &ns);
        if (ns > 0) config_->topology.horizon_ns = ns;
      } else if (name == "peer_keys") {
        std::vector<std::string> keys;
        StringList(node, full, &keys);
        config_->topology.peer_keys = std::move(keys);
      } else if (name == "edges") {
        std::vector<std::string> edges;
        StringList(node, full, &edges);
        for (const std::string& edge : edges) {
          const size_t arrow = edge.find("->");
          auto trim = [](std::string_view text) {
            while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
            while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
            return std::string(text);
          };
          std::string caller = arrow == std::string::npos ? "" : trim(edge.substr(0, arrow));
          std::string callee = arrow == std::string::npos ? "" : trim(edge.substr(arrow + 2));
          if (caller.empty() || callee.empty() || caller == callee) {
            Error(node, full + " entries must read \"caller -> callee\" with two different "
                               "services, got '" + edge + "'");
            continue;
          }
          config_->topology_edges.emplace_back(std::move(caller), std::move(callee));
        }
      } else {
        Unknown(node, "topology", name, {"horizon", "peer_keys", "edges"});
      }
    }
  }

  void ReadIncidents(const toml::table& table) {
    struct Field {
      const char* name;
      int64_t* out;
    };
    const Field fields[] = {
        {"group_gap", &config_->correlate.group_gap_ns},
        {"resolve_after", &config_->correlate.resolve_after_ns},
        {"habit_window", &config_->correlate.habit_window_ns},
        {"interval", &config_->incidents_interval_ns},
        {"lookback", &config_->incidents_lookback_ns},
        {"lateness", &config_->incidents_lateness_ns},
        {"catch_up", &config_->incidents_catch_up_ns},
    };
    for (const auto& [key, node] : table) {
      const std::string name(key.str());
      const std::string full = "incidents." + name;
      bool known = false;
      for (const Field& f : fields) {
        if (name != f.name) continue;
        known = true;
        int64_t ns = 0;
        Duration(node, full, &ns);
        if (ns > 0) *f.out = ns;
      }
      if (known) continue;
      if (name == "min_cause_weight" || name == "min_incident_weight") {
        const std::optional<double> value = node.value<double>();
        if (!value.has_value() || *value < 0) {
          Error(node, full + " must be a number >= 0");
          continue;
        }
        (name == "min_cause_weight" ? config_->correlate.min_cause_weight
                                    : config_->correlate.min_incident_weight) = *value;
      } else {
        Unknown(node, "incidents", name,
                {"group_gap", "resolve_after", "habit_window", "interval", "lookback", "lateness",
                 "catch_up", "min_cause_weight", "min_incident_weight"});
      }
    }
  }

  // [[signals.rules]]: match (a regex), family, kind, and optionally target
  // ("text", the default, or "signal") and direction ("up", "down", "any").
  void ReadSignalRules(const toml::node& node) {
    const toml::array* rules = node.as_array();
    if (rules == nullptr) {
      Error(node, "signals.rules must be an array of tables ([[signals.rules]])");
      return;
    }
    for (const toml::node& item : *rules) {
      const toml::table* table = item.as_table();
      if (table == nullptr) {
        Error(item, "each [[signals.rules]] entry must be a table");
        continue;
      }
      correlate::SignalRule rule;
      bool has_match = false, has_family = false;
      for (const auto& [key, value] : *table) {
        const std::string name(key.str());
        const std::string full = "signals.rules." + name;
        std::optional<std::string> text = String(value, full);
        if (!text) continue;
        if (name == "match") {
          rule.pattern = *text;
          has_match = !text->empty();
        } else if (name == "family") {
          has_family = correlate::ParseFamily(*text, &rule.family);
          if (!has_family) {
            Error(value, full + " must be infrastructure, demand or software, got '" + *text + "'");
          }
        } else if (name == "kind") {
          rule.kind = *text;
        } else if (name == "target") {
          if (*text == "text") {
            rule.target = correlate::SignalRule::Target::kText;
          } else if (*text == "signal") {
            rule.target = correlate::SignalRule::Target::kSignal;
          } else {
            Error(value, full + " must be text or signal, got '" + *text + "'");
          }
        } else if (name == "direction") {
          if (*text == "up") {
            rule.direction = 1;
          } else if (*text == "down") {
            rule.direction = -1;
          } else if (*text == "any") {
            rule.direction = 0;
          } else {
            Error(value, full + " must be up, down or any, got '" + *text + "'");
          }
        } else {
          Unknown(value, "signals.rules", name, {"match", "family", "kind", "target", "direction"});
        }
      }
      if (!has_match || !has_family) {
        Error(item, "a [[signals.rules]] entry needs match and family");
        continue;
      }
      if (rule.kind.empty()) rule.kind = "custom";
      config_->signal_rules.push_back(std::move(rule));
    }
  }

  void ReadStorage(const toml::table& table) {
    storage::StoreOptions& s = config_->store;
    for (const auto& [key, node] : table) {
      std::string name(key.str());
      std::string full = "storage." + name;
      if (name == "block_max_records") {
        Int(node, full, 16, 1 << 20, &s.block.max_records);
      } else if (name == "block_max_span") {
        Duration(node, full, &s.block.max_span_ns);
      } else if (name == "compression_level") {
        Int(node, full, -7, 19, &s.block.compression_level);
      } else if (name == "bloom_bits_per_key") {
        Int(node, full, 1, 64, &s.block.bloom_bits_per_key);
      } else if (name == "write_buffer_bytes") {
        Int(node, full, 1 << 20, 1LL << 34, &s.write_buffer_bytes);
      } else if (name == "sync_writes") {
        Bool(node, full, &s.sync_writes);
      } else {
        Unknown(node, "storage", name,
                {"block_max_records", "block_max_span", "compression_level",
                 "bloom_bits_per_key", "write_buffer_bytes", "sync_writes"});
      }
    }
  }

  void ReadTemplates(const toml::table& table) {
    ingest::MinerOptions& m = config_->miner;
    for (const auto& [key, node] : table) {
      std::string name(key.str());
      std::string full = "templates." + name;
      if (name == "enabled") {
        Bool(node, full, &config_->mine_templates);
      } else if (name == "similarity") {
        std::optional<double> value = node.value<double>();
        if (!value || *value <= 0 || *value > 1) {
          Error(node, full + " must be a number in (0, 1]");
          continue;
        }
        m.similarity = *value;
      } else if (name == "max_templates_per_service") {
        Int(node, full, 1, 10'000'000, &m.max_templates_per_service);
      } else if (name == "masks") {
        // [[templates.masks]] name = "order_id" regex = "ORD-[0-9]+"
        const toml::array* masks = node.as_array();
        if (masks == nullptr) {
          Error(node, full + " must be an array of tables: [[templates.masks]]");
          continue;
        }
        for (const toml::node& item : *masks) {
          const toml::table* mask = item.as_table();
          const toml::node* mask_name = mask ? mask->get("name") : nullptr;
          const toml::node* regex = mask ? mask->get("regex") : nullptr;
          if (mask == nullptr || mask_name == nullptr || !mask_name->is_string() ||
              regex == nullptr || !regex->is_string() || mask->size() != 2) {
            Error(item, full + " entries need exactly: name = \"...\", regex = \"...\"");
            continue;
          }
          m.extra_masks.push_back(ingest::MaskRule{mask_name->as_string()->get(),
                                                   regex->as_string()->get()});
        }
      } else {
        Unknown(node, "templates", name,
                {"enabled", "similarity", "max_templates_per_service", "masks"});
      }
    }
  }

  void ReadIngest(const toml::table& table) {
    for (const auto& [key, node] : table) {
      std::string name(key.str());
      std::string full = "ingest." + name;
      if (name == "threads") {
        Int(node, full, 0, 1024, &config_->ingest.threads);
      } else if (name == "chunk_bytes") {
        Int(node, full, 64 << 10, 1LL << 30, &config_->ingest.chunk_bytes);
      } else if (name == "join_multiline") {
        Bool(node, full, &config_->parser.join_multiline);
      } else if (name == "line_format") {
        ReadLineFormat(node, full, &config_->parser.line_format);
      } else if (name == "time_layout") {
        if (ReadTimeLayout(node, full, &config_->parser.time_layout)) ingest_time_layout_ = &node;
      } else {
        Unknown(node, "ingest", name,
                {"threads", "chunk_bytes", "join_multiline", "line_format", "time_layout"});
      }
    }
  }

  // [kafka]: librdkafka properties for `serve`, passed through as given.
  // Values are strings as librdkafka wants them; integers and booleans are
  // accepted and converted, since "fetch.wait.max.ms" = 5 is what people
  // write. librdkafka itself rejects unknown names when serve starts.
  void ReadKafka(const toml::table& table) {
    for (const auto& [key, node] : table) {
      std::string name(key.str());
      std::string value;
      if (const auto* text = node.as_string()) {
        value = text->get();
      } else if (const auto* integer = node.as_integer()) {
        value = std::to_string(integer->get());
      } else if (const auto* boolean = node.as_boolean()) {
        value = boolean->get() ? "true" : "false";
      } else {
        Error(node, "kafka." + name +
                        " must be a string, integer or boolean (a librdkafka property, e.g. "
                        "\"fetch.wait.max.ms\" = \"5\")");
        continue;
      }
      config_->kafka_properties.emplace_back(std::move(name), std::move(value));
    }
  }

  // Compiles a line format into *out, or records the error.
  void ReadLineFormat(const toml::node& node, const std::string& name,
                      std::shared_ptr<const ingest::LineFormat>* out) {
    auto text = String(node, name);
    if (!text) return;
    Result<ingest::LineFormat> format = ingest::LineFormat::Compile(*text);
    if (!format.ok()) {
      Error(node, name + ": " + format.status().message());
      return;
    }
    *out = std::make_shared<const ingest::LineFormat>(std::move(format).value());
  }

  // Compiles a time layout into *out; false (and an error) when it does not.
  bool ReadTimeLayout(const toml::node& node, const std::string& name,
                      std::shared_ptr<const TimeLayout>* out) {
    auto text = String(node, name);
    if (!text) return false;
    Result<TimeLayout> layout = TimeLayout::Compile(*text);
    if (!layout.ok()) {
      Error(node, name + ": " + layout.status().message());
      return false;
    }
    *out = std::make_shared<const TimeLayout>(std::move(layout).value());
    return true;
  }

  // [[sources]] match = "hdfs*.log*" service = "hdfs" line_format = "..."
  // time_layout = "...".
  void ReadSources(const toml::node& node) {
    const toml::array* entries = node.as_array();
    if (entries == nullptr || !entries->is_array_of_tables()) {
      Error(node, "sources must be written as [[sources]] tables");
      return;
    }
    for (const toml::node& item : *entries) {
      const toml::table& entry = *item.as_table();
      SourceSettings source;
      const std::string label = "[[sources]] #" + std::to_string(config_->sources.size() + 1);
      for (const auto& [key, value] : entry) {
        std::string name(key.str());
        std::string full = label + " " + name;
        if (name == "match") {
          auto text = String(value, full);
          if (!text) continue;
          if (std::string problem = GlobProblem(*text); !problem.empty()) {
            Error(value, full + ": " + problem);
            continue;
          }
          source.match = std::move(*text);
        } else if (name == "service") {
          auto text = String(value, full);
          if (!text) continue;
          if (text->empty()) {
            Error(value, full + " must not be empty");
            continue;
          }
          source.service = std::move(*text);
        } else if (name == "line_format") {
          ReadLineFormat(value, full, &source.line_format);
        } else if (name == "time_layout") {
          // Without a line format of its own, it reads [ingest]'s (checked
          // once the whole file is read).
          if (ReadTimeLayout(value, full, &source.time_layout) &&
              entry.get("line_format") == nullptr) {
            source_time_layouts_.emplace_back(&value, label);
          }
        } else {
          Unknown(value, "[sources]", name, {"match", "service", "line_format", "time_layout"});
        }
      }
      if (entry.get("match") == nullptr) {
        Error(entry, label + " needs match = \"GLOB\" (the files it applies to)");
      }
      config_->sources.push_back(std::move(source));
    }
  }

  // A time layout reads the time fields of a line format: one that no line
  // format can reach would be ignored, so it is an error.
  void CheckTimeLayoutsAreUsed() {
    if (config_->parser.line_format != nullptr) return;
    for (const auto& [node, label] : source_time_layouts_) {
      Error(*node, label + " time_layout needs a line_format, in this entry or in [ingest]");
    }
    if (ingest_time_layout_ != nullptr && !HasLineFormat(*config_)) {
      Error(*ingest_time_layout_,
            "ingest.time_layout needs a line_format, in [ingest] or in a [[sources]] entry");
    }
  }

  Config* config_;
  std::vector<ConfigError>* errors_;
  // Where time layouts were set that may have no line format to read.
  const toml::node* ingest_time_layout_ = nullptr;
  std::vector<std::pair<const toml::node*, std::string>> source_time_layouts_;  // and entry
};

Status JoinErrors(const std::vector<ConfigError>& errors, const std::string& path) {
  std::string message;
  for (const ConfigError& error : errors) {
    if (!message.empty()) message += "\n";
    message += error.ToString(path);
  }
  return Status::InvalidArgument(std::move(message));
}

}  // namespace

std::string ConfigError::ToString(const std::string& path) const {
  // Appends only: GCC 12's -Wrestrict misfires on string operator+ at -O3.
  std::string out = path;
  if (line > 0) {
    out += ':';
    out += std::to_string(line);
    out += ':';
    out += std::to_string(column);
  }
  out += ": ";
  out += message;
  return out;
}

Config DefaultConfig() { return Config{}; }

bool SourceSettings::Matches(const std::string& file) const {
  if (file == "-" || match.empty()) return false;
  if (match.find('/') == std::string::npos) {
    const std::string name = std::filesystem::path(file).filename().string();
    return fnmatch(match.c_str(), name.c_str(), 0) == 0;
  }
  if (fnmatch(match.c_str(), file.c_str(), 0) == 0) return true;
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(file, error);
  return !error &&
         fnmatch(match.c_str(), absolute.lexically_normal().string().c_str(), 0) == 0;
}

int WorkerThreads(int threads) {
  return threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

const SourceSettings* Config::SourceFor(const std::string& file) const {
  for (const SourceSettings& source : sources) {
    if (source.Matches(file)) return &source;
  }
  return nullptr;
}

ingest::ParserOptions Config::ParserOptionsFor(const std::string& file,
                                               const std::string& fallback_service) const {
  ingest::ParserOptions options = parser;
  options.default_service = fallback_service;
  const SourceSettings* source = SourceFor(file);
  if (source == nullptr) return options;
  if (!source->service.empty()) options.default_service = source->service;
  if (source->line_format != nullptr) options.line_format = source->line_format;
  if (source->time_layout != nullptr) options.time_layout = source->time_layout;
  return options;
}

Status ApplyParserFlags(const std::string& line_format, const std::string& time_layout,
                        Config* config) {
  if (!line_format.empty()) {
    Result<ingest::LineFormat> format = ingest::LineFormat::Compile(line_format);
    if (!format.ok()) return format.status().WithContext("--line-format");
    config->parser.line_format = std::make_shared<const ingest::LineFormat>(std::move(*format));
    for (SourceSettings& source : config->sources) source.line_format = nullptr;
  }
  if (!time_layout.empty()) {
    Result<TimeLayout> layout = TimeLayout::Compile(time_layout);
    if (!layout.ok()) return layout.status().WithContext("--time-layout");
    config->parser.time_layout = std::make_shared<const TimeLayout>(std::move(*layout));
    for (SourceSettings& source : config->sources) source.time_layout = nullptr;
    if (!HasLineFormat(*config)) {
      return Status::InvalidArgument(
          "--time-layout reads the time fields of a line format: give --line-format too (or "
          "line_format in the config file)");
    }
  }
  return Status::Ok();
}

Result<Config> ParseConfig(const std::string& text, const std::string& path,
                           std::vector<ConfigError>* errors) {
  Config config;
  config.path = path;
  toml::table root;
  // toml++ is built with exceptions; this is the one place they are caught
  // and turned into errors with a position.
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& error) {
    const auto& begin = error.source().begin;
    errors->push_back(ConfigError{static_cast<int>(begin.line), static_cast<int>(begin.column),
                                  std::string(error.description())});
    return JoinErrors(*errors, path);
  }
  ConfigReader(&config, errors).Read(root);
  // toml++ iterates tables in key order; report in document order.
  std::stable_sort(errors->begin(), errors->end(), [](const ConfigError& a, const ConfigError& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  if (errors->empty()) {
    Status parser_ok = config.parser.Validate();
    if (!parser_ok.ok()) errors->push_back(ConfigError{0, 0, parser_ok.message()});
    Status miner_ok = config.miner.Validate();
    if (miner_ok.ok()) miner_ok = ingest::CompileMasker(config.miner).status();
    if (!miner_ok.ok()) errors->push_back(ConfigError{0, 0, miner_ok.message()});
    Status store_ok = config.store.Validate();
    if (!store_ok.ok()) errors->push_back(ConfigError{0, 0, store_ok.message()});
    Status rules_ok = correlate::SignalClassifier::Create(config.signal_rules).status();
    if (!rules_ok.ok()) errors->push_back(ConfigError{0, 0, rules_ok.message()});
  }
  if (!errors->empty()) return JoinErrors(*errors, path);
  return config;
}

Result<Config> LoadConfig(const std::string& path) {
  if (path.empty()) return DefaultConfig();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read config file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::vector<ConfigError> errors;
  return ParseConfig(buffer.str(), path, &errors);
}

}  // namespace faultline::tools
