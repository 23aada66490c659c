#include "metrics_text.hpp"

#include <cstdint>
#include <cstdio>

namespace troupe::detail {

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string label_value(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void add_histogram(MetricsSection& section, std::string& json, const std::string& labels,
                   const std::string& metric, const std::string& key,
                   const TimeHistogram& histogram) {
  json += ",\"" + key + "\":{\"count\":" + std::to_string(histogram.count) +
          ",\"sum\":" + std::to_string(histogram.sum_ns) + ",\"buckets\":[";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < TimeHistogram::kBuckets; ++i) {
    cumulative += histogram.counts[i];
    const bool last = i + 1 == TimeHistogram::kBuckets;
    const std::string le = last ? "+Inf" : std::to_string(std::uint64_t{1} << (i + 1));
    std::string bucket_labels = labels;
    bucket_labels.append(",le=\"").append(le) += '"';
    section.samples.push_back(
        {metric + "_bucket", std::move(bucket_labels), static_cast<double>(cumulative)});
    if (histogram.counts[i] != 0) {
      if (json.back() != '[') json += ",";
      json.append("[\"").append(le).append("\",").append(std::to_string(histogram.counts[i]));
      json += ']';
    }
  }
  json += "]}";
  section.samples.push_back({metric + "_count", labels, static_cast<double>(histogram.count)});
  section.samples.push_back({metric + "_sum", labels, static_cast<double>(histogram.sum_ns)});
}

void add_values(MetricsSection& section, std::string& json, const std::string& labels,
                const std::string& prefix, std::initializer_list<MetricValue> values) {
  for (const MetricValue& v : values) {
    section.samples.push_back({prefix + v.key, labels, v.value});
    json += ",\"" + std::string(v.key) + "\":";
    json += v.fractional ? std::to_string(v.value)
                         : std::to_string(static_cast<std::uint64_t>(v.value));
  }
}

}  // namespace troupe::detail
