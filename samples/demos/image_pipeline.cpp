// image_pipeline.cpp — `troupe demo image-pipeline`: an image made smaller three ways — resized,
// turned gray, its gray levels compressed to 4 bits — by a Pipeline that works on bands of
// rows, then written as a PNG file.
//
//   generated RGB image, cut into bands of 16 rows
//     │ source: one band at a time, only while the first stage has room
//     ▼
//   resize     ×2 tasks  2×2 pixels averaged into one: half the width, half the height
//     ▼
//   grayscale  ×2 tasks  RGB → luma (0.30 R + 0.59 G + 0.11 B): a third of the bytes
//     ▼
//   compress   ×2 tasks  8-bit gray → 4-bit (16 levels, ordered dithering), two pixels a byte
//     ▼
//   sink       1 task    appends the band's rows to the output, in source order
//   main: finish(), then write_png (libpng deflates the rows as it writes them)
//
// What to notice:
//  * each stage is a plain function of one band; the pipeline runs each on 2 tasks, moves
//    the bands between them in chunks, and holds at most each stage's capacity: a stage that
//    falls behind makes the ones before it wait, never grows a queue;
//  * the pipeline is ordered (the default): the bands finish out of order on the parallel
//    tasks, but the sink sees them in source order, so it appends rows without sorting — and
//    the result is byte for byte what the three functions give run one after another on the
//    whole image (checked below);
//  * each band's dithering uses the row's absolute position, not its place in the band, so
//    the cut into bands does not show in the picture;
//  * the per-stage figures (busy time, items) show where the time goes.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "demos/demos.hpp"
#include "demos/png.hpp"
#include "demos/support.hpp"
#include "troupe/actors/pipeline.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe::demos {
namespace image_pipeline_impl {
namespace {

constexpr std::size_t kBandRows = 16;  // rows of the source image per band (even: see resize)

// A horizontal strip of the image, as it goes down the pipeline.
struct Band {
  std::size_t index = 0;  // its place in the image, from 0
  std::size_t y = 0;      // its first row, in the current image's rows
  std::size_t width = 0;
  std::size_t rows = 0;
  int channels = 3;       // 3: RGB, 1: gray
  int bit_depth = 8;      // 8, or 4 once compressed
  std::vector<std::uint8_t> pixels;

  [[nodiscard]] std::size_t row_bytes() const {
    return (width * static_cast<std::size_t>(channels * bit_depth) + 7) / 8;
  }
};

// The source picture: a colour wheel of gradients, rings and a checkerboard — smooth areas and
// sharp edges, so that every stage has something to do.
Image generate(std::size_t width, std::size_t height) {
  Image image;
  image.width = width;
  image.height = height;
  image.channels = 3;
  image.pixels.resize(height * image.row_bytes());
  const double cx = static_cast<double>(width) / 2;
  const double cy = static_cast<double>(height) / 2;
  for (std::size_t y = 0; y < height; ++y) {
    for (std::size_t x = 0; x < width; ++x) {
      const double dx = static_cast<double>(x) - cx;
      const double dy = static_cast<double>(y) - cy;
      const double ring = std::sin(std::sqrt(dx * dx + dy * dy) / 12.0);
      const bool check = ((x / 48) + (y / 48)) % 2 == 0;
      std::uint8_t* px = image.pixels.data() + y * image.row_bytes() + x * 3;
      px[0] = static_cast<std::uint8_t>(255 * x / width);
      px[1] = static_cast<std::uint8_t>(127 + 120 * ring);
      px[2] = static_cast<std::uint8_t>(check ? 220 - 200 * y / height : 40);
    }
  }
  return image;
}

// Rows [y, y + rows) of `image`, as band number `index`.
Band cut(const Image& image, std::size_t index, std::size_t y, std::size_t rows) {
  Band band{index, y, image.width, rows, image.channels, image.bit_depth, {}};
  const auto* first = image.pixels.data() + y * image.row_bytes();
  band.pixels.assign(first, first + rows * image.row_bytes());
  return band;
}

// Half the width and height: each output pixel the average of a 2×2 block (RGB).
Band resize(Band band) {
  Band half{band.index, band.y / 2, band.width / 2, band.rows / 2, 3, 8, {}};
  half.pixels.resize(half.rows * half.row_bytes());
  const std::size_t in_row = band.row_bytes();
  for (std::size_t y = 0; y < half.rows; ++y) {
    for (std::size_t x = 0; x < half.width; ++x) {
      for (std::size_t c = 0; c < 3; ++c) {
        const std::uint8_t* at = band.pixels.data() + 2 * y * in_row + 2 * x * 3 + c;
        const unsigned sum = at[0] + at[3] + at[in_row] + at[in_row + 3];
        half.pixels[y * half.row_bytes() + x * 3 + c] = static_cast<std::uint8_t>((sum + 2) / 4);
      }
    }
  }
  return half;
}

// RGB to 8-bit luma, in integers (the same result on every machine).
Band grayscale(Band band) {
  Band gray{band.index, band.y, band.width, band.rows, 1, 8, {}};
  gray.pixels.resize(gray.rows * gray.row_bytes());
  for (std::size_t i = 0; i < gray.pixels.size(); ++i) {
    const std::uint8_t* rgb = band.pixels.data() + 3 * i;
    gray.pixels[i] = static_cast<std::uint8_t>((77 * rgb[0] + 150 * rgb[1] + 29 * rgb[2]) >> 8);
  }
  return gray;
}

// 8-bit gray to 4-bit, two pixels a byte, with a 4×4 ordered (Bayer) dither: the rounding
// threshold varies across each 4×4 block, so smooth gradients stay smooth in 16 levels.
Band compress(Band band) {
  static constexpr int kBayer[4][4] = {{0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9},
                                       {15, 7, 13, 5}};
  Band packed{band.index, band.y, band.width, band.rows, 1, 4, {}};
  packed.pixels.assign(packed.rows * packed.row_bytes(), 0);
  for (std::size_t y = 0; y < band.rows; ++y) {
    const std::size_t row = band.y + y;  // the absolute row: no seams between bands
    for (std::size_t x = 0; x < band.width; ++x) {
      const int threshold = (kBayer[row % 4][x % 4] * 255 + 8) / 16;
      const int level = std::min(15, (band.pixels[y * band.width + x] * 15 + threshold) / 255);
      packed.pixels[y * packed.row_bytes() + x / 2] |=
          static_cast<std::uint8_t>(x % 2 == 0 ? level << 4 : level);
    }
  }
  return packed;
}

int run(const DemoOptions& options, std::ostream& out) {
  const std::size_t width = options.quick ? 320 : 2400;
  const std::size_t height = options.quick ? 240 : 1600;
  const std::filesystem::path path = output_path(options, "troupe-image-pipeline.png");
  Outcome outcome(out);

  const Image source = generate(width, height);
  const std::size_t bands = (height + kBandRows - 1) / kBandRows;
  out << "source: " << width << " x " << height << " RGB, " << format_bytes(source.pixels.size())
      << ", in " << bands << " bands of " << kBandRows << " rows\n";

  Image result;
  result.width = width / 2;
  result.height = height / 2;
  result.channels = 1;
  result.bit_depth = 4;
  std::size_t next_band = 0;
  bool in_order = true;
  Runtime runtime;
  Pipeline<Band> images =
      pipeline<Band>(runtime, {.name = "image"})
          .stage(resize, {.name = "resize", .parallelism = 2})
          .stage(grayscale, {.name = "grayscale", .parallelism = 2})
          .stage(compress, {.name = "compress", .parallelism = 2})
          .sink(
              [&](Band band) {  // one task, in source order: no lock needed
                in_order = in_order && band.index == next_band++;
                result.pixels.insert(result.pixels.end(), band.pixels.begin(),
                                     band.pixels.end());
              },
              {.name = "sink"});
  const Clock::time_point start = Clock::now();
  std::size_t band = 0;
  images.start([&]() -> std::optional<Band> {
    if (band == bands) return std::nullopt;
    const std::size_t y = band * kBandRows;
    return cut(source, band++, y, std::min(kBandRows, height - y));
  });
  const PipelineStats stats = images.finish();
  out << "pipeline: " << stats.delivered << " bands through in " << format_since(start) << '\n';
  for (const StageStats& stage : stats.stages) out << describe_stage(stage);

  // The same three functions, one after another, on the whole image as a single band.
  const Band whole = compress(grayscale(resize(cut(source, 0, 0, height))));
  out << "sizes: RGB " << format_bytes(source.pixels.size()) << " -> resized "
      << format_bytes(source.pixels.size() / 4) << " -> gray "
      << format_bytes(source.pixels.size() / 12) << " -> 4-bit "
      << format_bytes(result.pixels.size());

  write_png(path, result);
  const Image back = read_png(path);
  out << " -> PNG " << format_bytes(std::filesystem::file_size(path)) << '\n'
      << "wrote " << path.string() << ": " << back.width << " x " << back.height << ", "
      << back.bit_depth << "-bit gray\n";

  outcome.expect(stats.emitted == bands && stats.delivered == bands,
                 "every band went through the pipeline once");
  outcome.expect(in_order, "the sink saw the bands in source order");
  outcome.expect(result.pixels == whole.pixels,
                 "the banded result equals the three steps run on the whole image");
  outcome.expect(back.width == width / 2 && back.height == height / 2 && back.bit_depth == 4 &&
                     back.pixels == result.pixels,
                 "the PNG reads back at half the size, 4-bit gray, with the same pixels");
  return outcome.finish();
}

}  // namespace
}  // namespace image_pipeline_impl

int run_image_pipeline(const DemoOptions& options, std::ostream& out) {
  return image_pipeline_impl::run(options, out);
}

}  // namespace troupe::demos
