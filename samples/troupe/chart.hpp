// chart.hpp — self-contained SVG charts for the CLI's --plot files: no library, no script, no
// external reference (fonts are the viewer's sans-serif). Two kinds:
//
//   line_chart_svg  y against x for one or more named series: a polyline and a dot per point
//                   (`troupe load <w> --sweep … --plot FILE.svg`: rate against the swept value)
//   bar_chart_svg   a histogram: one bar per bucket, its count, the bucket edges labelled
//                   under the bars' boundaries (equal widths, so that log-spaced buckets such
//                   as latency ones read well)
//
// The output is one complete XML document (an XML declaration, then <svg>): a title, both axes
// with tick marks, tick labels and grid lines, the axis labels, and for a line chart a legend.
// Every text given (titles, labels, series names, edge labels) is XML-escaped, and characters
// XML 1.0 cannot hold (control characters other than tab and line breaks) become spaces.
//
// Ranges: the y axis of both charts starts at 0 when no value is negative (bars always do),
// and ends at a "nice" tick at or above the largest value. A range that is one value (a single
// point, equal x or y values, all counts 0) is widened around it, so that every chart has
// finite, distinct axis ends and no coordinate is NaN. What cannot be drawn at all — no series,
// a series with no points, a non-finite value, edges that do not increase — throws ChartError
// with a message naming the problem.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::cli {

// A chart that cannot be drawn: the message names why ("series 'x' has no points").
class ChartError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct ChartPoint {
  double x = 0;
  double y = 0;
};

struct ChartSeries {
  std::string name;
  std::vector<ChartPoint> points;  // drawn in this order (sort them by x for a line)
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<ChartSeries> series;  // at least one, each with at least one point
};

// A histogram: counts[i] is the number of values in [edges[i], edges[i+1]).
struct BarChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<double> edges;          // counts.size() + 1 values, strictly increasing
  std::vector<std::uint64_t> counts;  // at least one bucket
  // How an edge is labelled, one per edge; empty: the edges' values, shortened (1.5k, 2M).
  std::vector<std::string> edge_labels = {};
};

// Width and height of every chart, in SVG user units (pixels at 100%).
inline constexpr int kChartWidth = 720;
inline constexpr int kChartHeight = 440;

// The SVG document of the chart. Throws ChartError if it cannot be drawn (see above).
[[nodiscard]] std::string line_chart_svg(const LineChart& chart);
[[nodiscard]] std::string bar_chart_svg(const BarChart& chart);

// A tick value as labelled on an axis: "0", "0.25", "1.5k", "26M", "3G".
[[nodiscard]] std::string format_tick(double value);
// `text` with &, <, >, " and ' as XML entities, and characters XML cannot hold as spaces.
[[nodiscard]] std::string xml_escape(std::string_view text);

}  // namespace troupe::cli
