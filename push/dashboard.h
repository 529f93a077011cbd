// The release manager's dashboard: a page with no build step, served by the
// daemon that holds push state, reading the same control API as `spate push`.
// Pages: / (recent pushes), /pushes/ID (one push, live), /fleet (versions per
// rack and skew). Chart.js comes from Debian's libjs-chart.js on this machine,
// never a CDN; without it the page works and leaves the charts out.
#pragma once

#include <optional>
#include <string>

#include "wire/http.h"

namespace spate::push {

struct DashboardOptions {
  std::string chart_js = "/usr/share/javascript/chart.js/chart.min.js";
};

// The answer to a dashboard GET (a page or a /static/ asset); nullopt for any
// other request, which the daemon routes on.
std::optional<http::Response> ServeDashboard(const http::Request& req, const DashboardOptions& options = {});

}  // namespace spate::push
