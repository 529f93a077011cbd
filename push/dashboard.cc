#include "push/dashboard.h"

#include <cctype>

#include "push/assets.h"
#include "wire/fs.h"

namespace spate::push {

namespace {

http::Response Asset(const std::string& type, const std::string& body) {
  // Assets change only with the binary; a short cache keeps reloads cheap and upgrades visible.
  return http::Response{200, type, body, {{"Cache-Control", "max-age=60"}}};
}

bool IsPushPage(const std::string& path) {
  const std::string prefix = "/pushes/";
  if (path.size() <= prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  for (size_t i = prefix.size(); i < path.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(path[i]))) return false;
  return true;
}

}  // namespace

std::optional<http::Response> ServeDashboard(const http::Request& req, const DashboardOptions& options) {
  if (req.method != "GET") return std::nullopt;
  const std::string& p = req.path;
  if (p == "/" || p == "/fleet" || IsPushPage(p)) return Asset("text/html; charset=utf-8", kDashboardHtml);
  if (p == "/static/app.js") return Asset("text/javascript", kAppJs);
  if (p == "/static/style.css") return Asset("text/css", kStyleCss);
  if (p == "/static/chart.js") {
    auto js = ReadFile(options.chart_js);
    if (!js.ok())
      return http::Response::Error(Status::NotFound("chart library " + options.chart_js +
                                                    " missing: apt-get install libjs-chart.js"));
    return Asset("text/javascript", *js);
  }
  return std::nullopt;
}

}  // namespace spate::push
