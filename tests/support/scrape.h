// Reading a daemon's GET /metrics in tests, as a Prometheus scraper would.
#pragma once

#include <string>
#include <vector>

#include "wire/http.h"
#include "wire/metrics.h"

namespace spate::testing {

// GET BASE/metrics (with `options`, e.g. a read token), parsed with the
// strict text-format parser; fails the test if the request or the parse does.
std::vector<ParsedSample> Scrape(const std::string& base, const http::ClientOptions& options = {});
// The sample's value (summed over label matches); fails the test if absent.
double Value(const std::vector<ParsedSample>& m, const std::string& name, const MetricLabels& labels = {});
// Scrapes until `name` reaches `want` (a fetcher publishes once a second); at most 5 s.
std::vector<ParsedSample> ScrapeUntil(const std::string& base, const std::string& name, const MetricLabels& labels,
                                      double want);

}  // namespace spate::testing
