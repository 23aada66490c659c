// demos/png.hpp — PNG files for the demos that make images (image-pipeline, mandelbrot) and
// for the tests that read them back: an image in memory, written and read with libpng, and
// where a demo's file goes. Not part of any demo's lesson.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "demos/demos.hpp"

namespace troupe::demos {

// Pixels row after row, each row packed as a PNG stores it: 8 bits a sample (gray: 1 sample a
// pixel, RGB: 3), or 4 bits (gray only: two pixels a byte, the left one in the high nibble).
struct Image {
  std::size_t width = 0;
  std::size_t height = 0;
  int channels = 1;   // 1: gray, 3: RGB
  int bit_depth = 8;  // 8, or 4 for gray
  std::vector<std::uint8_t> pixels;  // height × row_bytes()

  [[nodiscard]] std::size_t row_bytes() const noexcept {
    return (width * static_cast<std::size_t>(channels * bit_depth) + 7) / 8;
  }
  [[nodiscard]] const std::uint8_t* row(std::size_t y) const noexcept {
    return pixels.data() + y * row_bytes();
  }
};

// Writes `image` to `path` as a PNG (libpng, default compression). Throws std::runtime_error
// naming the path if the file cannot be created or written.
void write_png(const std::filesystem::path& path, const Image& image);
// Reads the PNG at `path` as stored (no conversions): its size, channels, depth and rows.
// Throws std::runtime_error naming the path if it is missing or not a PNG this reads (8-bit
// gray or RGB, 4-bit gray, not interlaced).
[[nodiscard]] Image read_png(const std::filesystem::path& path);

// Where a demo writes its file: DemoOptions::out if given, else `file_name` in the system's
// temporary directory.
[[nodiscard]] std::filesystem::path output_path(const DemoOptions& options,
                                                std::string_view file_name);

}  // namespace troupe::demos
