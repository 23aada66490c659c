// chart.cpp — the SVG charts (see chart.hpp).
#include "chart.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <sstream>
#include <string_view>

namespace troupe::cli {
namespace chart_impl {
namespace {

// The plot area inside the chart: room for the title above, tick labels and the axis labels
// left and below, and (line charts) the legend on the right.
struct Frame {
  double left = 80;
  double top = 48;
  double right = kChartWidth - 24.0;
  double bottom = kChartHeight - 64.0;
};

// An axis: its ends (ticks both), and the distance between ticks.
struct Axis {
  double low = 0;
  double high = 1;
  double step = 0.2;
};

constexpr std::string_view kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                        "#9467bd", "#8c564b", "#e377c2", "#17becf"};
constexpr int kMaxTicks = 12;

// A coordinate as SVG text: two decimals are finer than any screen.
std::string coordinate(double value) {
  char text[32];
  const int size = std::snprintf(text, sizeof text, "%.2f", value);
  return std::string(text, static_cast<std::size_t>(std::clamp(size, 0, int{sizeof text} - 1)));
}

void require_finite(double value, const std::string& what) {
  if (!std::isfinite(value)) throw ChartError("chart: " + what + " is not a finite number");
}

// 1, 2 or 5 times a power of 10, about a fifth of `span` (> 0).
double nice_step(double span) {
  const double raw = span / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double normalized = raw / magnitude;
  const double factor = normalized < 1.5 ? 1 : normalized < 3 ? 2 : normalized < 7 ? 5 : 10;
  return factor * magnitude;
}

// The axis covering [low, high] (finite), from 0 if `from_zero` and low >= 0. A range of one
// value (or one so narrow that its ticks would be indistinguishable) is widened around it.
Axis nice_axis(double low, double high, bool from_zero, const std::string& name) {
  if (from_zero && low >= 0) low = 0;
  const double magnitude = std::max(std::abs(low), std::abs(high));
  if (!(high - low > magnitude * 1e-9)) {
    const double half = magnitude > 0 ? magnitude / 2 : 1;
    high += half;
    low = from_zero && low >= 0 ? 0 : low - half;
  }
  if (!std::isfinite(high - low)) {
    throw ChartError("chart: the " + name + " values span more than a double can hold");
  }
  Axis axis;
  axis.step = nice_step(high - low);
  axis.low = std::floor(low / axis.step) * axis.step;
  axis.high = std::ceil(high / axis.step) * axis.step;
  if (axis.high <= axis.low) axis.high = axis.low + axis.step;
  return axis;
}

// The axis' tick values, low to high; a value within rounding of 0 is 0 exactly.
std::vector<double> ticks_of(const Axis& axis) {
  std::vector<double> ticks;
  const double first = std::round(axis.low / axis.step);
  const double count = std::round((axis.high - axis.low) / axis.step);
  for (double i = 0; i <= count && i <= kMaxTicks; ++i) {
    const double value = (first + i) * axis.step;
    ticks.push_back(std::abs(value) < axis.step * 1e-9 ? 0.0 : value);
  }
  return ticks;
}

// Maps a value on `axis` to a pixel between `from` (axis.low) and `to` (axis.high).
double scale(const Axis& axis, double value, double from, double to) {
  return from + (value - axis.low) / (axis.high - axis.low) * (to - from);
}

// Writes the SVG document: the header, the title and both axis labels, then `body`.
class Svg {
 public:
  Svg(const std::string& title, const std::string& x_label, const std::string& y_label,
      const Frame& frame) {
    out_ << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kChartWidth << "\" height=\""
         << kChartHeight << "\" viewBox=\"0 0 " << kChartWidth << ' ' << kChartHeight
         << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
         << "<title>" << xml_escape(title) << "</title>\n"
         << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    text(kChartWidth / 2.0, 28, title, "middle", "font-size=\"16\" font-weight=\"bold\"");
    text((frame.left + frame.right) / 2, kChartHeight - 16.0, x_label, "middle");
    const double middle = (frame.top + frame.bottom) / 2;
    out_ << "<text x=\"20\" y=\"" << coordinate(middle)
         << "\" text-anchor=\"middle\" transform=\"rotate(-90 20 " << coordinate(middle) << ")\">"
         << xml_escape(y_label) << "</text>\n";
  }

  void text(double x, double y, std::string_view content, std::string_view anchor,
            std::string_view extra = {}) {
    out_ << "<text x=\"" << coordinate(x) << "\" y=\"" << coordinate(y) << "\" text-anchor=\""
         << anchor << '"';
    if (!extra.empty()) out_ << ' ' << extra;
    out_ << '>' << xml_escape(content) << "</text>\n";
  }

  void line(double x1, double y1, double x2, double y2, std::string_view stroke,
            std::string_view extra = {}) {
    out_ << "<line x1=\"" << coordinate(x1) << "\" y1=\"" << coordinate(y1) << "\" x2=\""
         << coordinate(x2) << "\" y2=\"" << coordinate(y2) << "\" stroke=\"" << stroke << '"';
    if (!extra.empty()) out_ << ' ' << extra;
    out_ << "/>\n";
  }

  // The y axis: a grid line, a tick and a label per tick value, and the axis line itself.
  void y_axis(const Axis& axis, const Frame& frame) {
    for (const double tick : ticks_of(axis)) {
      const double y = scale(axis, tick, frame.bottom, frame.top);
      line(frame.left, y, frame.right, y, "#e0e0e0");
      line(frame.left - 5, y, frame.left, y, "black");
      text(frame.left - 8, y + 4, format_tick(tick), "end");
    }
    line(frame.left, frame.top, frame.left, frame.bottom, "black");
  }

  std::ostringstream& raw() { return out_; }

  std::string close() {
    out_ << "</svg>\n";
    return out_.str();
  }

 private:
  std::ostringstream out_;
};

std::string line_chart_svg(const LineChart& chart) {
  if (chart.series.empty()) throw ChartError("chart: no series to draw");
  double x_low = INFINITY, x_high = -INFINITY, y_low = INFINITY, y_high = -INFINITY;
  for (const ChartSeries& series : chart.series) {
    if (series.points.empty())
      throw ChartError("chart: series '" + series.name + "' has no points");
    for (const ChartPoint& point : series.points) {
      require_finite(point.x, "an x value of series '" + series.name + "'");
      require_finite(point.y, "a y value of series '" + series.name + "'");
      x_low = std::min(x_low, point.x);
      x_high = std::max(x_high, point.x);
      y_low = std::min(y_low, point.y);
      y_high = std::max(y_high, point.y);
    }
  }
  Frame frame;
  frame.right = kChartWidth - 168.0;  // the legend's column
  const Axis x_axis = nice_axis(x_low, x_high, false, "x");
  const Axis y_axis = nice_axis(y_low, y_high, true, "y");
  Svg svg(chart.title, chart.x_label, chart.y_label, frame);
  svg.y_axis(y_axis, frame);
  for (const double tick : ticks_of(x_axis)) {
    const double x = scale(x_axis, tick, frame.left, frame.right);
    svg.line(x, frame.top, x, frame.bottom, "#f0f0f0");
    svg.line(x, frame.bottom, x, frame.bottom + 5, "black");
    svg.text(x, frame.bottom + 18, format_tick(tick), "middle");
  }
  svg.line(frame.left, frame.bottom, frame.right, frame.bottom, "black");
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& series = chart.series[i];
    const std::string_view color = kColors[i % std::size(kColors)];
    std::string points;
    for (const ChartPoint& point : series.points) {
      if (!points.empty()) points += ' ';
      points += coordinate(scale(x_axis, point.x, frame.left, frame.right)) + ',' +
                coordinate(scale(y_axis, point.y, frame.bottom, frame.top));
    }
    svg.raw() << "<g fill=\"" << color << "\" stroke=\"" << color << "\">\n<title>"
              << xml_escape(series.name) << "</title>\n";
    if (series.points.size() > 1) {
      svg.raw() << "<polyline fill=\"none\" stroke-width=\"2\" points=\"" << points << "\"/>\n";
    }
    for (const ChartPoint& point : series.points) {
      svg.raw() << "<circle cx=\"" << coordinate(scale(x_axis, point.x, frame.left, frame.right))
                << "\" cy=\"" << coordinate(scale(y_axis, point.y, frame.bottom, frame.top))
                << "\" r=\"3.5\"><title>" << xml_escape(series.name) << ": " << format_tick(point.x)
                << ", " << format_tick(point.y) << "</title></circle>\n";
    }
    svg.raw() << "</g>\n";
    const double legend_y = frame.top + 8 + 20.0 * static_cast<double>(i);
    svg.line(frame.right + 16, legend_y, frame.right + 40, legend_y, color, "stroke-width=\"2\"");
    svg.text(frame.right + 46, legend_y + 4, series.name, "start");
  }
  return svg.close();
}

std::string bar_chart_svg(const BarChart& chart) {
  if (chart.counts.empty()) throw ChartError("chart: no buckets to draw");
  if (chart.edges.size() != chart.counts.size() + 1) {
    throw ChartError("chart: " + std::to_string(chart.counts.size()) + " buckets need " +
                     std::to_string(chart.counts.size() + 1) + " edges, got " +
                     std::to_string(chart.edges.size()));
  }
  if (!chart.edge_labels.empty() && chart.edge_labels.size() != chart.edges.size()) {
    throw ChartError("chart: " + std::to_string(chart.edges.size()) +
                     " edges need as many labels, got " + std::to_string(chart.edge_labels.size()));
  }
  for (std::size_t i = 0; i < chart.edges.size(); ++i) {
    require_finite(chart.edges[i], "bucket edge " + std::to_string(i));
    if (i > 0 && !(chart.edges[i] > chart.edges[i - 1])) {
      throw ChartError("chart: bucket edges must increase, but edge " + std::to_string(i) + " (" +
                       format_tick(chart.edges[i]) + ") is not above edge " +
                       std::to_string(i - 1) + " (" + format_tick(chart.edges[i - 1]) + ")");
    }
  }
  const std::uint64_t largest = *std::max_element(chart.counts.begin(), chart.counts.end());
  Frame frame;
  const Axis y_axis = nice_axis(0, static_cast<double>(largest), true, "count");
  Svg svg(chart.title, chart.x_label, chart.y_label, frame);
  svg.y_axis(y_axis, frame);
  const auto buckets = static_cast<double>(chart.counts.size());
  const double width = (frame.right - frame.left) / buckets;
  const auto edge_label = [&](std::size_t i) {
    return chart.edge_labels.empty() ? format_tick(chart.edges[i]) : chart.edge_labels[i];
  };
  svg.raw() << "<g fill=\"" << kColors[0] << "\">\n";
  for (std::size_t i = 0; i < chart.counts.size(); ++i) {
    const double x = frame.left + width * static_cast<double>(i);
    const double y = scale(y_axis, static_cast<double>(chart.counts[i]), frame.bottom, frame.top);
    svg.raw() << "<rect x=\"" << coordinate(x + 0.5) << "\" y=\"" << coordinate(y) << "\" width=\""
              << coordinate(std::max(width - 1, 0.5)) << "\" height=\""
              << coordinate(frame.bottom - y) << "\"><title>[" << xml_escape(edge_label(i)) << ", "
              << xml_escape(edge_label(i + 1)) << "): " << chart.counts[i] << "</title></rect>\n";
  }
  svg.raw() << "</g>\n";
  // Every edge gets a tick; labels are thinned so that about a dozen fit.
  const std::size_t every = (chart.edges.size() + kMaxTicks - 1) / kMaxTicks;
  for (std::size_t i = 0; i < chart.edges.size(); ++i) {
    const double x = frame.left + width * static_cast<double>(i);
    svg.line(x, frame.bottom, x, frame.bottom + 5, "black");
    if (i % every == 0) svg.text(x, frame.bottom + 18, edge_label(i), "middle");
  }
  svg.line(frame.left, frame.bottom, frame.right, frame.bottom, "black");
  return svg.close();
}

}  // namespace
}  // namespace chart_impl

std::string line_chart_svg(const LineChart& chart) {
  return chart_impl::line_chart_svg(chart);
}

std::string bar_chart_svg(const BarChart& chart) {
  return chart_impl::bar_chart_svg(chart);
}

std::string format_tick(double value) {
  const double magnitude = std::abs(value);
  const char* suffix = "";
  double shown = value;
  if (magnitude >= 1e9) {
    suffix = "G";
    shown = value / 1e9;
  } else if (magnitude >= 1e6) {
    suffix = "M";
    shown = value / 1e6;
  } else if (magnitude >= 1e3) {
    suffix = "k";
    shown = value / 1e3;
  }
  char text[48];
  const int size = std::snprintf(text, sizeof text, "%.4g%s", shown, suffix);
  return std::string(text, static_cast<std::size_t>(std::clamp(size, 0, int{sizeof text} - 1)));
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 allows no control character but tab, line feed and carriage return.
        out +=
            static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r' ? ' ' : c;
    }
  }
  return out;
}

}  // namespace troupe::cli
