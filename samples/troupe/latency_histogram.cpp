// latency_histogram.cpp — LatencyHistogram (see latency_histogram.hpp).
#include "latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace troupe::cli {
namespace latency_histogram_impl {
namespace {

// The power of two of a bucket's values: [2^e, 2^(e+1)), for e >= kSubBits + 1.
unsigned exponent_of(std::size_t bucket) noexcept {
  return LatencyHistogram::kSubBits + 1 +
         static_cast<unsigned>((bucket - 2 * LatencyHistogram::kSubBuckets) /
                               LatencyHistogram::kSubBuckets);
}

}  // namespace
}  // namespace latency_histogram_impl

std::size_t LatencyHistogram::bucket_of(std::uint64_t ns) noexcept {
  if (ns < 2 * kSubBuckets) return static_cast<std::size_t>(ns);
  const auto exponent = static_cast<unsigned>(std::bit_width(ns)) - 1;
  if (exponent >= kMaxExponent) return kBuckets - 1;
  const std::uint64_t sub = (ns >> (exponent - kSubBits)) - kSubBuckets;  // 0 .. 127
  return static_cast<std::size_t>(2 * kSubBuckets + (exponent - kSubBits - 1) * kSubBuckets +
                                  sub);
}

std::uint64_t LatencyHistogram::lowest_of(std::size_t bucket) noexcept {
  if (bucket < 2 * kSubBuckets) return bucket;
  const unsigned exponent = latency_histogram_impl::exponent_of(bucket);
  const std::uint64_t sub = (bucket - 2 * kSubBuckets) % kSubBuckets;
  return (kSubBuckets + sub) << (exponent - kSubBits);
}

std::uint64_t LatencyHistogram::highest_of(std::size_t bucket) noexcept {
  if (bucket < 2 * kSubBuckets) return bucket;
  return lowest_of(bucket) +
         (std::uint64_t{1} << (latency_histogram_impl::exponent_of(bucket) - kSubBits)) - 1;
}

void LatencyHistogram::record(std::uint64_t ns) noexcept {
  ++counts_[bucket_of(ns)];
  ++count_;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
  sum_ += static_cast<long double>(ns);
}

double LatencyHistogram::mean() const noexcept {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t LatencyHistogram::quantile(double q) const noexcept {
  if (count_ == 0) return 0;
  const double wanted = std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_));
  const auto rank = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(wanted), 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t bucket = 0; bucket < kBuckets; ++bucket) {
    seen += counts_[bucket];
    if (seen >= rank) return std::min(highest_of(bucket), max_);
  }
  return max_;
}

std::vector<LatencyHistogram::Range> LatencyHistogram::log2_ranges() const {
  std::vector<Range> ranges;
  if (count_ == 0) return ranges;
  // Range k holds [2^k, 2^(k+1)); range 0 also holds 0. Every fine bucket lies in one range.
  const auto range_of = [](std::uint64_t ns) {
    return ns < 2 ? 0U : static_cast<unsigned>(std::bit_width(ns)) - 1;
  };
  const unsigned first = range_of(min());
  const unsigned last = std::min(range_of(max_), 62U);  // 2^63 ns: centuries
  for (unsigned k = first; k <= last; ++k) {
    ranges.push_back({.from_ns = k == 0 ? 0 : std::uint64_t{1} << k,
                      .to_ns = std::uint64_t{1} << (k + 1),
                      .count = 0});
  }
  for (std::size_t bucket = 0; bucket < kBuckets; ++bucket) {
    if (counts_[bucket] == 0) continue;
    const unsigned k = std::clamp(range_of(lowest_of(bucket)), first, last);
    ranges[k - first].count += counts_[bucket];
  }
  return ranges;
}

}  // namespace troupe::cli
