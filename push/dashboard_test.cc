#include "push/dashboard.h"

#include <catch2/catch.hpp>

namespace spate::push {
namespace {

http::Request Get(const std::string& path) {
  http::Request r;
  r.method = "GET";
  r.path = path;
  return r;
}

TEST_CASE("dashboard pages are one HTML shell, assets are served by type") {
  for (const char* page : {"/", "/fleet", "/pushes/12"}) {
    auto r = ServeDashboard(Get(page));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->content_type == "text/html; charset=utf-8");
    CHECK(r->body.find("<script src=\"/static/app.js\"") != std::string::npos);
  }
  auto js = ServeDashboard(Get("/static/app.js"));
  REQUIRE(js);
  CHECK(js->content_type == "text/javascript");
  CHECK(js->body.find("/api/v1/pushes/") != std::string::npos);
  CHECK(ServeDashboard(Get("/static/style.css"))->content_type == "text/css");
}

TEST_CASE("dashboard leaves other paths to the daemon") {
  for (const char* other : {"/announce", "/api/v1/pushes", "/pushes/", "/pushes/1x", "/static/nope.js", "/metrics"})
    CHECK_FALSE(ServeDashboard(Get(other)));
  http::Request post = Get("/");
  post.method = "POST";
  CHECK_FALSE(ServeDashboard(post));
}

TEST_CASE("the chart library comes from disk, and its absence names the package") {
  DashboardOptions o;
  o.chart_js = "/nonexistent/chart.min.js";
  auto missing = ServeDashboard(Get("/static/chart.js"), o);
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(missing->body.find("apt-get install libjs-chart.js") != std::string::npos);
}

}  // namespace
}  // namespace spate::push
