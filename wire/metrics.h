// One snapshot of a daemon's figures, rendered for Prometheus (text format
// 0.0.4) or Graphite (plaintext protocol), so every daemon exposes the same
// numbers both ways. Pure: built and tested on values, no server.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "wire/status.h"

namespace spate {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

struct MetricSample {
  MetricLabels labels;
  double value = 0;
};

struct MetricFamily {
  std::string name;  // e.g. spate_seeder_uploads_total: units in the name, _total on counters
  std::string type;  // "counter" or "gauge"
  std::string help;
  std::vector<MetricSample> samples;
};

class Metrics {
 public:
  // Adds a sample; a family named again gains a sample (same type and help).
  Metrics& Counter(const std::string& name, const std::string& help, double value, MetricLabels labels = {});
  Metrics& Gauge(const std::string& name, const std::string& help, double value, MetricLabels labels = {});

  // Adds every sample of `other` (one daemon hosting two components).
  Metrics& Append(const Metrics& other);

  const std::vector<MetricFamily>& families() const { return families_; }
  // Prometheus text: HELP and TYPE per family, then its samples.
  std::string Prometheus() const;
  // Graphite plaintext, one "PATH VALUE TIME" line per sample. PATH is
  // prefix.name[.label.value...]; characters Graphite treats specially
  // (dots, spaces, slashes) in label values become '_'.
  std::string Graphite(const std::string& prefix, int64_t unix_seconds) const;

 private:
  Metrics& Add(const std::string& name, const char* type, const std::string& help, double value,
               MetricLabels labels);
  std::vector<MetricFamily> families_;
};

// Escapes a label value (backslash, double quote, newline).
std::string PrometheusLabel(const std::string& v);

// A strict parser of Prometheus text (what a scraper accepts), for tests and
// tools: every sample line must parse, and belong to a family declared by a
// TYPE line before it (a _total, _sum, _count or _bucket suffix allowed).
struct ParsedSample {
  std::string name;
  MetricLabels labels;
  double value = 0;
  std::string type;  // of its family
};
Result<std::vector<ParsedSample>> ParsePrometheus(const std::string& text);

// The value of the sample named `name` whose labels include `labels`; the sum
// over matches when several do. NotFound when none does.
Result<double> SampleValue(const std::vector<ParsedSample>& samples, const std::string& name,
                           const MetricLabels& labels = {});

}  // namespace spate
