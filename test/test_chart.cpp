// The SVG charts of samples/troupe/chart.hpp: every chart is one well-formed XML document with
// its texts escaped, finite coordinates and labelled axes; what cannot be drawn throws ChartError.
#include <doctest/doctest.h>

#include <cctype>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/chart.hpp"

namespace {

using troupe::cli::bar_chart_svg;
using troupe::cli::BarChart;
using troupe::cli::ChartError;
using troupe::cli::line_chart_svg;
using troupe::cli::LineChart;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
    ++count;
  }
  return count;
}

// A small well-formedness check, enough for what the charts write: an XML declaration, then
// elements that nest and close by name, attributes quoted, and in text and attribute values no
// '<' and no '&' but the five predefined entities. Returns the first problem, or "".
std::string xml_problem(const std::string& xml) {
  const std::string declaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  if (xml.rfind(declaration, 0) != 0) return "no XML declaration";
  const auto entity_ok = [&](std::size_t at) {
    for (const char* entity : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"}) {
      if (xml.compare(at, std::string_view(entity).size(), entity) == 0) return true;
    }
    return false;
  };
  std::vector<std::string> open;
  std::size_t roots = 0;
  std::size_t i = declaration.size();
  while (i < xml.size()) {
    const char c = xml[i];
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') {
      return "a control character at " + std::to_string(i);
    }
    if (c == '&') {
      if (!entity_ok(i)) return "a bare & at " + std::to_string(i);
      ++i;
      continue;
    }
    if (c == '>') return "a bare > in text at " + std::to_string(i);
    if (c != '<') {
      if (open.empty() && !std::isspace(static_cast<unsigned char>(c))) {
        return "text outside the root element at " + std::to_string(i);
      }
      ++i;
      continue;
    }
    const bool closing = i + 1 < xml.size() && xml[i + 1] == '/';
    std::size_t j = i + (closing ? 2 : 1);
    const std::size_t name_start = j;
    while (j < xml.size() && (std::isalnum(static_cast<unsigned char>(xml[j])) || xml[j] == '-')) {
      ++j;
    }
    const std::string name = xml.substr(name_start, j - name_start);
    if (name.empty()) return "a tag without a name at " + std::to_string(i);
    if (closing) {
      if (j >= xml.size() || xml[j] != '>') return "a malformed end tag </" + name;
      if (open.empty() || open.back() != name) return "</" + name + "> closes nothing open";
      open.pop_back();
      i = j + 1;
      continue;
    }
    // Attributes: name="value", each value free of '<' and of bare '&'.
    while (true) {
      while (j < xml.size() && xml[j] == ' ') ++j;
      if (j >= xml.size()) return "an unterminated <" + name;
      if (xml[j] == '>' || xml.compare(j, 2, "/>") == 0) break;
      const std::size_t attribute = j;
      while (j < xml.size() &&
             (std::isalnum(static_cast<unsigned char>(xml[j])) || xml[j] == '-')) {
        ++j;
      }
      if (j == attribute || xml.compare(j, 2, "=\"") != 0) {
        return "a malformed attribute in <" + name + " at " + std::to_string(attribute);
      }
      j += 2;
      for (; j < xml.size() && xml[j] != '"'; ++j) {
        if (xml[j] == '<') return "a < in an attribute of <" + name;
        if (xml[j] == '&' && !entity_ok(j)) return "a bare & in an attribute of <" + name;
      }
      if (j >= xml.size()) return "an unterminated attribute in <" + name;
      ++j;
    }
    if (open.empty()) {
      if (++roots > 1) return "a second root element <" + name;
    }
    if (xml[j] == '/') {
      i = j + 2;
    } else {
      open.push_back(name);
      i = j + 1;
    }
  }
  if (!open.empty()) return "<" + open.back() + "> is never closed";
  if (roots != 1) return "no root element";
  return "";
}

void check_chart(const std::string& svg) {
  CHECK_MESSAGE(xml_problem(svg) == "", svg);
  CHECK(contains(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
  CHECK(svg.substr(svg.size() - 7) == "</svg>\n");
  for (const char* bad : {"nan", "NaN", "inf", "<script", "href"}) {
    CHECK_MESSAGE(!contains(svg, bad), bad);
  }
}

LineChart one_series(std::vector<troupe::cli::ChartPoint> points) {
  return {.title = "rate against threads",
          .x_label = "threads",
          .y_label = "round trips/s",
          .series = {{.name = "pingpong/task", .points = std::move(points)}}};
}

}  // namespace

TEST_CASE("chart.a line chart is one well-formed SVG document with its title, labels and ticks") {
  const std::string svg = line_chart_svg(one_series({{1, 2.5e6}, {2, 4.1e6}, {4, 3.9e6}}));
  check_chart(svg);
  CHECK(contains(svg, "<title>rate against threads</title>"));
  CHECK(contains(svg, ">threads</text>"));
  CHECK(contains(svg, ">round trips/s</text>"));
  CHECK(contains(svg, ">pingpong/task</text>"));  // the legend
  CHECK(count_of(svg, "<polyline") == 1);
  CHECK(count_of(svg, "<circle") == 3);
  // The y axis starts at 0 and reaches a nice tick above the largest rate; x ticks cover 1..4.
  CHECK(contains(svg, "text-anchor=\"end\">0</text>"));
  CHECK(contains(svg, "text-anchor=\"end\">5M</text>"));
  CHECK_FALSE(contains(svg, "text-anchor=\"end\">-"));
  CHECK(contains(svg, "text-anchor=\"middle\">1</text>"));
  CHECK(contains(svg, "text-anchor=\"middle\">4</text>"));
}

TEST_CASE("chart.a line chart draws every series in its own colour with a legend entry") {
  LineChart chart = one_series({{1, 10}, {2, 20}});
  chart.series.push_back({.name = "min", .points = {{1, 8}, {2, 15}}});
  chart.series.push_back({.name = "max", .points = {{1, 12}, {2, 22}}});
  const std::string svg = line_chart_svg(chart);
  check_chart(svg);
  CHECK(count_of(svg, "<polyline") == 3);
  CHECK(contains(svg, ">min</text>"));
  CHECK(contains(svg, ">max</text>"));
  CHECK(contains(svg, "fill=\"#1f77b4\""));
  CHECK(contains(svg, "fill=\"#d62728\""));
  CHECK(contains(svg, "fill=\"#2ca02c\""));
}

TEST_CASE("chart.every text is escaped, and control characters become spaces") {
  LineChart chart = one_series({{1, 1}, {2, 2}});
  chart.title = "a <b> & \"c\" 'd'";
  chart.x_label = "x\x01y";
  chart.series[0].name = "</text><script>alert(1)</script>";
  const std::string svg = line_chart_svg(chart);
  check_chart(svg);
  CHECK(contains(svg, "<title>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;</title>"));
  CHECK(contains(svg, ">x y</text>"));
  CHECK(contains(svg, "&lt;/text&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
  CHECK(troupe::cli::xml_escape("plain") == "plain");
  CHECK(troupe::cli::xml_escape("tab\there") == "tab\there");
}

TEST_CASE("chart.a single point or equal values give a chart with distinct axis ends") {
  for (const auto& points :
       std::vector<std::vector<troupe::cli::ChartPoint>>{{{4, 1000}},
                                                         {{1, 5}, {2, 5}, {3, 5}},
                                                         {{7, 0}, {7, 0}},
                                                         {{0, 0}},
                                                         {{-3, -2}},
                                                         {{1e300, 1e-300}},
                                                         {{1, 1}, {1 + 1e-15, 1}}}) {
    CAPTURE(points.size());
    CAPTURE(points[0].x);
    const std::string svg = line_chart_svg(one_series(points));
    check_chart(svg);
    CHECK(count_of(svg, "<circle") == points.size());
    // At least two y ticks: the axis is a range, not a point.
    CHECK(count_of(svg, "text-anchor=\"end\"") >= 2);
  }
  // A single point is drawn as a dot, without a line.
  CHECK(count_of(line_chart_svg(one_series({{4, 1000}})), "<polyline") == 0);
}

TEST_CASE("chart.a line chart with nothing to draw or a non-finite value is refused") {
  CHECK_THROWS_WITH_AS(line_chart_svg(LineChart{}), "chart: no series to draw", ChartError);
  CHECK_THROWS_WITH_AS(line_chart_svg(one_series({})),
                       "chart: series 'pingpong/task' has no points", ChartError);
  CHECK_THROWS_WITH_AS(
      line_chart_svg(one_series({{1, 2}, {2, std::numeric_limits<double>::quiet_NaN()}})),
      "chart: a y value of series 'pingpong/task' is not a finite number", ChartError);
  CHECK_THROWS_WITH_AS(line_chart_svg(one_series({{std::numeric_limits<double>::infinity(), 2}})),
                       "chart: an x value of series 'pingpong/task' is not a finite number",
                       ChartError);
  CHECK_THROWS_WITH_AS(line_chart_svg(one_series({{-1.7e308, 2}, {1.7e308, 3}})),
                       "chart: the x values span more than a double can hold", ChartError);
}

TEST_CASE("chart.a bar chart has a bar per bucket and labels every bucket edge") {
  const BarChart chart{.title = "latency",
                       .x_label = "round trip (us)",
                       .y_label = "round trips",
                       .edges = {1, 2, 4, 8, 16},
                       .counts = {5, 120, 33, 0}};
  const std::string svg = bar_chart_svg(chart);
  check_chart(svg);
  CHECK(count_of(svg, "<rect x=") == 4);
  CHECK(contains(svg, "<title>[2, 4): 120</title>"));
  CHECK(contains(svg, "<title>[8, 16): 0</title>"));
  for (const char* edge : {">1</text>", ">2</text>", ">4</text>", ">8</text>", ">16</text>"}) {
    CHECK_MESSAGE(contains(svg, edge), edge);
  }
  CHECK(contains(svg, ">round trip (us)</text>"));
  CHECK(contains(svg, "text-anchor=\"end\">0</text>"));
  CHECK(contains(svg, "text-anchor=\"end\">120</text>"));
}

TEST_CASE("chart.a bar chart uses the edge labels it is given, escaped") {
  const BarChart chart{.title = "t",
                       .x_label = "x",
                       .y_label = "y",
                       .edges = {0, 1, 2},
                       .counts = {1, 2},
                       .edge_labels = {"0", "<1 ms", "2 ms & up"}};
  const std::string svg = bar_chart_svg(chart);
  check_chart(svg);
  CHECK(contains(svg, ">&lt;1 ms</text>"));
  CHECK(contains(svg, "<title>[&lt;1 ms, 2 ms &amp; up): 2</title>"));
}

TEST_CASE("chart.a bar chart of zero counts or one bucket is still a chart") {
  const std::string zeros = bar_chart_svg(
      {.title = "t", .x_label = "x", .y_label = "y", .edges = {0, 1, 2}, .counts = {0, 0}});
  check_chart(zeros);
  CHECK(contains(zeros, "text-anchor=\"end\">1</text>"));  // the axis is widened to 0..1
  const std::string one = bar_chart_svg({.title = "t",
                                         .x_label = "x",
                                         .y_label = "y",
                                         .edges = {10, 20},
                                         .counts = {UINT64_C(18446744073709551615)}});
  check_chart(one);
  CHECK(count_of(one, "<rect x=") == 1);
}

TEST_CASE("chart.a bar chart with many buckets labels about a dozen of its edges") {
  BarChart chart{.title = "t", .x_label = "x", .y_label = "y", .edges = {}, .counts = {}};
  for (int i = 0; i <= 60; ++i) chart.edges.push_back(i);
  chart.counts.assign(60, 3);
  const std::string svg = bar_chart_svg(chart);
  check_chart(svg);
  CHECK(count_of(svg, "<rect x=") == 60);
  const std::size_t x_labels = count_of(svg, "text-anchor=\"middle\"") - 3;  // title, axis labels
  CHECK(x_labels >= 6);
  CHECK(x_labels <= 13);
}

TEST_CASE("chart.a bar chart whose buckets do not fit its edges is refused") {
  const auto bars = [](std::vector<double> edges, std::vector<std::uint64_t> counts,
                       std::vector<std::string> labels = {}) {
    return bar_chart_svg({.title = "t",
                          .x_label = "x",
                          .y_label = "y",
                          .edges = std::move(edges),
                          .counts = std::move(counts),
                          .edge_labels = std::move(labels)});
  };
  CHECK_THROWS_WITH_AS(bars({}, {}), "chart: no buckets to draw", ChartError);
  CHECK_THROWS_WITH_AS(bars({1, 2}, {1, 2}), "chart: 2 buckets need 3 edges, got 2", ChartError);
  CHECK_THROWS_WITH_AS(bars({1, 1, 2}, {1, 2}),
                       "chart: bucket edges must increase, but edge 1 (1) is not above edge 0 (1)",
                       ChartError);
  CHECK_THROWS_WITH_AS(bars({0, std::numeric_limits<double>::infinity()}, {1}),
                       "chart: bucket edge 1 is not a finite number", ChartError);
  CHECK_THROWS_WITH_AS(bars({0, 1}, {1}, {"a"}), "chart: 2 edges need as many labels, got 1",
                       ChartError);
}

TEST_CASE("chart.tick labels are short: k, M and G for thousands, millions and billions") {
  CHECK(troupe::cli::format_tick(0) == "0");
  CHECK(troupe::cli::format_tick(0.25) == "0.25");
  CHECK(troupe::cli::format_tick(16) == "16");
  CHECK(troupe::cli::format_tick(1500) == "1.5k");
  CHECK(troupe::cli::format_tick(26e6) == "26M");
  CHECK(troupe::cli::format_tick(-3e9) == "-3G");
}
