// The text pieces of the actors layer's metrics sections (registry.cpp: actors; pool.cpp:
// pools). Not API.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "troupe/actors/actor.hpp"
#include "troupe/channels/detail/mutex.hpp"
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

// One counter or gauge of an object: `fractional` ones are printed as decimals in JSON.
struct MetricValue {
  const char* key;
  double value;
  bool fractional = false;
};
// Appends `,"<key>":<value>` to `json` and the sample <prefix><key>{labels} to `section`, for
// each value.
void add_values(MetricsSection& section, std::string& json, const std::string& labels,
                const std::string& prefix, std::initializer_list<MetricValue> values);

// The live objects of one kind (pools, pipelines), for their metrics section. An object adds
// itself when made and removes itself before it is destroyed: remove() returns only once no
// snapshot is reading it. Users leak their set (objects may outlive the statics).
template <class T>
class LiveSet {
 public:
  void add(const T* item) ABSL_LOCKS_EXCLUDED(mutex_) {
    detail::MutexLock lock(mutex_);
    items_.push_back(item);
  }
  void remove(const T* item) ABSL_LOCKS_EXCLUDED(mutex_) {
    detail::MutexLock lock(mutex_);
    std::erase(items_, item);
  }
  // `visit` runs under the lock (so that remove() waits for it): it must not add or remove.
  template <class F>
  void for_each(F&& visit) const ABSL_LOCKS_EXCLUDED(mutex_) {
    detail::MutexLock lock(mutex_);
    for (const T* item : items_) visit(*item);
  }

 private:
  mutable detail::PlainMutex mutex_;
  std::vector<const T*> items_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace troupe::detail
