// The text pieces of the actors layer's metrics sections (registry.cpp: actors; pool.cpp:
// pools). Not API.
#pragma once

#include <string>

#include "troupe/actors/actor.hpp"
#include "troupe/runtime/metrics.hpp"

namespace troupe::detail {

// `text` as a JSON string literal (quotes included).
std::string json_string(const std::string& text);
// A Prometheus label value: backslash, quote and newline escaped.
std::string label_value(const std::string& text);
// One histogram: appends the JSON member `,"<key>":{"count","sum","buckets":[[le,n],...]}`
// (non-empty buckets only) to `json`, and the Prometheus samples <metric>_bucket (cumulative,
// per le), <metric>_count and <metric>_sum to `section`.
void add_histogram(MetricsSection& section, std::string& json, const std::string& labels,
                   const std::string& metric, const std::string& key,
                   const TimeHistogram& histogram);

}  // namespace troupe::detail
