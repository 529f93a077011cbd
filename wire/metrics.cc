#include "wire/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace spate {

namespace {

std::string FormatValue(double v) {
  char buf[64];
  if (std::isnan(v)) return "NaN";
  if (v >= 0 && v < 1.8e19 && v == double(uint64_t(v)))
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
  else
    std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string GraphiteComponent(const std::string& v) {
  std::string out = v.empty() ? "none" : v;
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) c = '_';
  return out;
}

bool NameChar(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

}  // namespace

std::string PrometheusLabel(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

Metrics& Metrics::Add(const std::string& name, const char* type, const std::string& help, double value,
                      MetricLabels labels) {
  auto it = std::find_if(families_.begin(), families_.end(), [&](const MetricFamily& f) { return f.name == name; });
  if (it == families_.end()) it = families_.insert(families_.end(), MetricFamily{name, type, help, {}});
  it->samples.push_back(MetricSample{std::move(labels), value});
  return *this;
}

Metrics& Metrics::Counter(const std::string& name, const std::string& help, double value, MetricLabels labels) {
  return Add(name, "counter", help, value, std::move(labels));
}

Metrics& Metrics::Gauge(const std::string& name, const std::string& help, double value, MetricLabels labels) {
  return Add(name, "gauge", help, value, std::move(labels));
}

Metrics& Metrics::Append(const Metrics& other) {
  for (const MetricFamily& f : other.families_)
    for (const MetricSample& s : f.samples) Add(f.name, f.type.c_str(), f.help, s.value, s.labels);
  return *this;
}

std::string Metrics::Prometheus() const {
  std::string out;
  for (const MetricFamily& f : families_) {
    out += "# HELP " + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n";
    for (const MetricSample& s : f.samples) {
      out += f.name;
      if (!s.labels.empty()) {
        out += '{';
        for (size_t i = 0; i < s.labels.size(); ++i)
          out += (i ? "," : "") + s.labels[i].first + "=\"" + PrometheusLabel(s.labels[i].second) + "\"";
        out += '}';
      }
      out += ' ' + FormatValue(s.value) + '\n';
    }
  }
  return out;
}

std::string Metrics::Graphite(const std::string& prefix, int64_t unix_seconds) const {
  std::string out, ts = std::to_string(unix_seconds);
  for (const MetricFamily& f : families_)
    for (const MetricSample& s : f.samples) {
      std::string path = prefix.empty() ? f.name : prefix + "." + f.name;
      for (const auto& [k, v] : s.labels) path += "." + GraphiteComponent(k) + "." + GraphiteComponent(v);
      out += path + " " + FormatValue(s.value) + " " + ts + "\n";
    }
  return out;
}

Result<std::vector<ParsedSample>> ParsePrometheus(const std::string& text) {
  std::map<std::string, std::string> types;
  std::vector<ParsedSample> out;
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) return Status::Invalid("metrics: last line has no newline");
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    auto bad = [&](const std::string& why) {
      return Status::Invalid("metrics line " + std::to_string(line_no) + ": " + why + ": " + line);
    };
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.rfind("# TYPE ", 0) == 0) {
        size_t sp = line.find(' ', 7);
        if (sp == std::string::npos) return bad("TYPE without a type");
        std::string type = line.substr(sp + 1);
        if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" && type != "untyped")
          return bad("unknown type");
        if (!types.emplace(line.substr(7, sp - 7), type).second) return bad("family declared twice");
      }
      continue;
    }
    ParsedSample s;
    size_t i = 0;
    while (i < line.size() && NameChar(line[i], i == 0)) ++i;
    if (i == 0) return bad("no metric name");
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t k = i;
        while (i < line.size() && NameChar(line[i], i == k)) ++i;
        if (i == k || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') return bad("bad label");
        std::string key = line.substr(k, i - k), value;
        for (i += 2; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\') {
            if (++i >= line.size()) return bad("dangling escape");
            char c = line[i];
            if (c == 'n') value += '\n';
            else if (c == '\\' || c == '"') value += c;
            else return bad("bad escape");
          } else {
            value += line[i];
          }
        }
        if (i >= line.size()) return bad("unterminated label value");
        ++i;  // closing quote
        s.labels.emplace_back(key, value);
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return bad("unterminated labels");
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') return bad("no value");
    std::string rest = line.substr(i + 1);
    size_t sp = rest.find(' ');  // an optional timestamp follows
    std::string v = rest.substr(0, sp);
    char* endp = nullptr;
    s.value = std::strtod(v.c_str(), &endp);
    if (v.empty() || *endp != '\0') return bad("value is not a number");
    std::string family = s.name;
    auto t = types.find(family);
    for (const char* suffix : {"_total", "_sum", "_count", "_bucket"}) {
      if (t != types.end()) break;
      size_t n = std::char_traits<char>::length(suffix);
      if (family.size() > n && family.compare(family.size() - n, n, suffix) == 0)
        t = types.find(family.substr(0, family.size() - n));
    }
    if (t == types.end()) return bad("sample before its family's TYPE line");
    s.type = t->second;
    out.push_back(std::move(s));
  }
  return out;
}

Result<double> SampleValue(const std::vector<ParsedSample>& samples, const std::string& name,
                           const MetricLabels& labels) {
  double sum = 0;
  bool found = false;
  for (const ParsedSample& s : samples) {
    if (s.name != name) continue;
    bool all = std::all_of(labels.begin(), labels.end(), [&](const auto& want) {
      return std::find(s.labels.begin(), s.labels.end(), want) != s.labels.end();
    });
    if (!all) continue;
    sum += s.value;
    found = true;
  }
  if (!found) return Status::NotFound("no sample " + name);
  return sum;
}

}  // namespace spate
