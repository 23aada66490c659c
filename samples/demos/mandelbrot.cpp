// mandelbrot.cpp — `troupe demo mandelbrot`: the Mandelbrot set rendered in tiles by a pool of
// workers, as one batch, and written as a PNG file.
//
//   the image, cut into tiles:            main ──submit_batch(every tile)──▶ one queue entry
//     ┌────┬────┬────┬────┐                 worker 1 ─ claims a chunk of tiles, renders them
//     │ t0 │ t1 │ t2 │ t3 │                 worker 2 ─ claims a chunk of tiles, renders them
//     ├────┼────┼────┼────┤                 …  (a worker that finishes early claims more)
//     │ t4 │ t5 │ t6 │ t7 │          main ◀──batch.get(): every tile's pixels, in tile order
//     └────┴────┴────┴────┘          main: copies each tile into place, writes the PNG
//
// Each pixel is a point c of the complex plane: iterate z = z² + c from 0 until |z| > 2 or
// the iteration limit; points that never escape are in the set (black), the others are
// coloured by how fast they escaped.
//
// What to notice:
//  * the tiles are independent — no shared state, nothing to lock: each task returns its
//    pixels, and main alone assembles them;
//  * the work is uneven: a tile inside the set runs every iteration for every pixel, one far
//    outside escapes at once. The pool does not split the work evenly up front; its workers
//    claim tiles a chunk at a time as they free up, so no worker idles while another has a
//    pile left;
//  * get() gives the tiles back in submission order, whatever order they finished in: the
//    image is the same as a plain serial render, pixel for pixel (checked below);
//  * the speed-up over the serial render is printed, not promised: it is bounded by the cores
//    this machine gives the workers.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <vector>

#include "demos/demos.hpp"
#include "demos/png.hpp"
#include "demos/support.hpp"
#include "troupe/actors/pool.hpp"

namespace troupe::demos {
namespace mandelbrot_impl {
namespace {

// The picture: `width` × `height` pixels over x in [-2.5, 1.0], centred on the real axis.
struct View {
  std::size_t width = 0;
  std::size_t height = 0;
  int max_iterations = 0;

  [[nodiscard]] double scale() const { return 3.5 / static_cast<double>(width); }
  [[nodiscard]] double x_of(std::size_t px) const {
    return -2.5 + (static_cast<double>(px) + 0.5) * scale();
  }
  [[nodiscard]] double y_of(std::size_t py) const {
    return (static_cast<double>(height) / 2 - static_cast<double>(py) - 0.5) * scale();
  }
};

// Iterations before z = z² + c escapes |z| > 2 (max_iterations: it did not: in the set).
int escape_time(double cx, double cy, int max_iterations) {
  double x = 0;
  double y = 0;
  int n = 0;
  while (n < max_iterations && x * x + y * y <= 4.0) {
    const double next_x = x * x - y * y + cx;
    y = 2 * x * y + cy;
    x = next_x;
    ++n;
  }
  return n;
}

// The colour of a pixel that took `n` iterations: black in the set, else a blue-to-gold ramp.
void colour(int n, int max_iterations, std::uint8_t* rgb) {
  if (n >= max_iterations) {
    rgb[0] = rgb[1] = rgb[2] = 0;
    return;
  }
  const double t = std::sqrt(static_cast<double>(n) / max_iterations);
  const auto channel = [](double v) {
    return static_cast<std::uint8_t>(std::clamp(v, 0.0, 1.0) * 255.0);
  };
  rgb[0] = channel(9 * (1 - t) * t * t * t * 4);
  rgb[1] = channel(15 * (1 - t) * (1 - t) * t * t * 2);
  rgb[2] = channel(8.5 * (1 - t) * (1 - t) * (1 - t) * t * 2 + t * 0.3);
}

// What one tile hands back: its pixels (RGB, row after row) and how much work it was.
struct TilePixels {
  std::vector<std::uint8_t> rgb;
  std::uint64_t iterations = 0;
  std::size_t inside = 0;  // pixels in the set
};

// One task of the batch: the pixels of the tile at (x0, y0), at most `size` square.
struct RenderTile {
  View view;
  std::size_t x0 = 0;
  std::size_t y0 = 0;
  std::size_t size = 0;

  [[nodiscard]] std::size_t width() const { return std::min(size, view.width - x0); }
  [[nodiscard]] std::size_t height() const { return std::min(size, view.height - y0); }
  TilePixels operator()() const {
    TilePixels tile;
    tile.rgb.resize(width() * height() * 3);
    std::uint8_t* at = tile.rgb.data();
    for (std::size_t y = y0; y < y0 + height(); ++y) {
      for (std::size_t x = x0; x < x0 + width(); ++x, at += 3) {
        const int n = escape_time(view.x_of(x), view.y_of(y), view.max_iterations);
        tile.iterations += static_cast<std::uint64_t>(n);
        tile.inside += n >= view.max_iterations ? 1 : 0;
        colour(n, view.max_iterations, at);
      }
    }
    return tile;
  }
};

Image blank_rgb(const View& view) {
  Image image;
  image.width = view.width;
  image.height = view.height;
  image.channels = 3;
  image.pixels.resize(image.height * image.row_bytes());
  return image;
}

// The whole image as one tile, on this thread: the reference the pool's render must match.
Image render_serially(const View& view) {
  Image image = blank_rgb(view);
  image.pixels = RenderTile{view, 0, 0, std::max(view.width, view.height)}().rgb;
  return image;
}

int run(const DemoOptions& options, std::ostream& out) {
  const View view = options.quick ? View{360, 240, 256} : View{1200, 800, 600};
  const std::size_t tile = options.quick ? 40 : 100;
  const std::size_t workers = RuntimeOptions::default_threads();
  const std::filesystem::path path = output_path(options, "troupe-mandelbrot.png");
  Outcome outcome(out);

  std::vector<RenderTile> tiles;
  for (std::size_t y0 = 0; y0 < view.height; y0 += tile) {
    for (std::size_t x0 = 0; x0 < view.width; x0 += tile) {
      tiles.push_back(RenderTile{view, x0, y0, tile});
    }
  }
  const std::vector<RenderTile> layout = tiles;  // where each result goes (the batch takes tiles)
  out << view.width << " x " << view.height << " pixels, at most " << view.max_iterations
      << " iterations each, in " << tiles.size() << " tiles of " << tile << " x " << tile
      << ", on a pool of " << workers << " workers\n";

  Pool pool(fixed_pool("mandelbrot", workers));
  pool.wait_ready();
  const Clock::time_point start = Clock::now();
  // The queue is unbounded: the batch is never refused.
  std::vector<TilePixels> rendered = pool.submit_batch(std::move(tiles)).value().get();
  const Clock::duration parallel_time = Clock::now() - start;

  Image image = blank_rgb(view);
  std::uint64_t least = UINT64_MAX;
  std::uint64_t most = 0;
  std::size_t inside = 0;
  for (std::size_t i = 0; i < rendered.size(); ++i) {
    const RenderTile& where = layout[i];
    const std::size_t tile_row = where.width() * 3;
    for (std::size_t y = 0; y < where.height(); ++y) {
      std::copy_n(rendered[i].rgb.data() + y * tile_row, tile_row,
                  image.pixels.data() + (where.y0 + y) * image.row_bytes() + where.x0 * 3);
    }
    least = std::min(least, rendered[i].iterations);
    most = std::max(most, rendered[i].iterations);
    inside += rendered[i].inside;
  }
  out << "pool: " << rendered.size() << " tiles rendered in " << format_duration(parallel_time)
      << "; the cheapest tile took " << least << " iterations, the dearest " << most << '\n'
      << "  " << inside << " of " << view.width * view.height << " pixels are in the set\n";

  const Clock::time_point serial_start = Clock::now();
  const Image serial = render_serially(view);
  const Clock::duration serial_time = Clock::now() - serial_start;
  out << "serial, on main: " << format_duration(serial_time) << "; the pool was "
      << format_ratio(serial_time, parallel_time) << " as fast\n";

  write_png(path, image);
  const Image back = read_png(path);
  out << "wrote " << path.string() << ": " << back.width << " x " << back.height << ", "
      << format_bytes(std::filesystem::file_size(path)) << " (raw RGB: "
      << format_bytes(image.pixels.size()) << ")\n";

  pool.wait_idle();
  const PoolStats stats = pool.stats();
  outcome.expect(rendered.size() == layout.size() && stats.completed == layout.size() &&
                     stats.failed == 0,
                 "every tile was rendered once (the pool's books agree)");
  outcome.expect(inside > 0 && inside < view.width * view.height,
                 "some pixels are in the set and some escape");
  outcome.expect(image.pixels == serial.pixels,
                 "the tiled image equals the serial render, pixel for pixel");
  outcome.expect(back.width == view.width && back.height == view.height && back.channels == 3 &&
                     back.pixels == image.pixels,
                 "the PNG reads back with the same size and pixels");
  pool.close();
  return outcome.finish();
}

}  // namespace
}  // namespace mandelbrot_impl

int run_mandelbrot(const DemoOptions& options, std::ostream& out) {
  return mandelbrot_impl::run(options, out);
}

}  // namespace troupe::demos
