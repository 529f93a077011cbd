#include "tests/support/scrape.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "wire/http.h"

namespace spate::testing {

std::vector<ParsedSample> Scrape(const std::string& base, const http::ClientOptions& options) {
  auto r = http::Call("GET", base + "/metrics", "", options);
  REQUIRE(r.ok());
  REQUIRE(r->status == 200);
  auto parsed = ParsePrometheus(r->body);
  INFO(r->body.substr(0, 3000));
  REQUIRE(parsed.ok());
  return *parsed;
}

double Value(const std::vector<ParsedSample>& m, const std::string& name, const MetricLabels& labels) {
  auto v = SampleValue(m, name, labels);
  INFO(name);
  REQUIRE(v.ok());
  return *v;
}

std::vector<ParsedSample> ScrapeUntil(const std::string& base, const std::string& name, const MetricLabels& labels,
                                      double want) {
  auto m = Scrape(base);
  for (int i = 0; i < 50 && Value(m, name, labels) < want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    m = Scrape(base);
  }
  return m;
}

}  // namespace spate::testing
