// latency_histogram.hpp — LatencyHistogram: durations in nanoseconds, counted in log-linear
// buckets (the layout of HdrHistogram), for `troupe load latency`.
//
// Layout. Values below 256 ns have a bucket each (exact). From 256 ns on, every power of two
// [2^e, 2^(e+1)) is split into 128 equal buckets, 2^(e-7) ns wide: a bucket's values differ by
// less than 1/128 (0.8%) of their size, so a quantile is reported within 0.8% above the true
// value. The buckets go up to 2^40 ns (about 18 minutes); a larger value counts in the last
// one. 4,352 counters (34 KiB), whatever the number of values; min, max and the sum are exact.
//
// Why not troupe::TimeHistogram (actors/actor.hpp, the actors' and pools' metrics): it has one
// bucket per power of two — a quantile within a factor of two, fine for a metrics export, too
// coarse to tell a p99 of 120 us from one of 200 us.
//
// Thread-safety: none; one thread records (the latency run's collector), others read after it
// is done (its join orders them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace troupe::cli {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 7;                         // 128 buckets per power of two
  static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBits;
  static constexpr unsigned kMaxExponent = 40;                    // up to 2^40 ns
  static constexpr std::size_t kBuckets =
      2 * kSubBuckets + (kMaxExponent - kSubBits - 1) * kSubBuckets;

  LatencyHistogram() : counts_(kBuckets, 0) {}

  void record(std::uint64_t ns) noexcept;

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  [[nodiscard]] double mean() const noexcept;
  // The q-quantile for 0 < q <= 1: the largest value of the bucket that holds the
  // ceil(q * count)-th smallest value, never above max(); 0 when empty. Monotone in q.
  [[nodiscard]] std::uint64_t quantile(double q) const noexcept;

  // A coarse bucket for display: the values in [from_ns, to_ns).
  struct Range {
    std::uint64_t from_ns = 0;
    std::uint64_t to_ns = 0;
    std::uint64_t count = 0;
  };
  // The values by power of two, [2^k, 2^(k+1)) ns ([0, 2) first), from the range of min() to
  // that of max(), empty ones between included; empty when nothing was recorded.
  [[nodiscard]] std::vector<Range> log2_ranges() const;

  // The bucket of a value, and the smallest and largest value of a bucket.
  [[nodiscard]] static std::size_t bucket_of(std::uint64_t ns) noexcept;
  [[nodiscard]] static std::uint64_t lowest_of(std::size_t bucket) noexcept;
  [[nodiscard]] static std::uint64_t highest_of(std::size_t bucket) noexcept;

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  long double sum_ = 0;  // of every value: exact far beyond any run's count
};

}  // namespace troupe::cli
