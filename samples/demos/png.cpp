// png.cpp — see png.hpp. libpng reports errors by longjmp to the setjmp of the call that
// failed: each setjmp below sits in a function whose locals have no destructors, so the jump
// skips none; the owning objects live in the callers.
#include "demos/png.hpp"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

namespace troupe::demos {
namespace png_impl {
namespace {

// Where libpng's error message goes before the jump.
struct PngError {
  char message[256] = {};
};

[[noreturn]] void on_error(png_structp png, png_const_charp message) {
  auto* error = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(error->message, sizeof error->message, "%s", message);
  png_longjmp(png, 1);
}
void on_warning(png_structp /*png*/, png_const_charp /*message*/) {}

struct FileCloser {
  void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

File open(const std::filesystem::path& path, const char* mode) {
  File file(std::fopen(path.c_str(), mode));
  if (!file) throw std::runtime_error("cannot open '" + path.string() + "'");
  return file;
}

bool write_rows(png_structp png, png_infop info, std::FILE* file, const Image& image) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), image.bit_depth,
               image.channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (std::size_t y = 0; y < image.height; ++y) png_write_row(png, image.row(y));
  png_write_end(png, nullptr);
  return true;
}

// The header into `image` (its pixels not yet allocated).
bool read_header(png_structp png, png_infop info, std::FILE* file, Image& image) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, file);
  png_read_info(png, info);
  image.width = png_get_image_width(png, info);
  image.height = png_get_image_height(png, info);
  image.bit_depth = png_get_bit_depth(png, info);
  image.channels = png_get_channels(png, info);
  return true;
}

bool read_rows(png_structp png, png_infop info, std::uint8_t* pixels, std::size_t row_bytes,
               std::size_t height) {
  if (setjmp(png_jmpbuf(png))) return false;
  for (std::size_t y = 0; y < height; ++y) png_read_row(png, pixels + y * row_bytes, nullptr);
  png_read_end(png, info);
  return true;
}

}  // namespace
}  // namespace png_impl

void write_png(const std::filesystem::path& path, const Image& image) {
  png_impl::File file = png_impl::open(path, "wb");
  png_impl::PngError error;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &error, png_impl::on_error,
                                            png_impl::on_warning);
  png_infop info = png != nullptr ? png_create_info_struct(png) : nullptr;
  const bool written = info != nullptr && png_impl::write_rows(png, info, file.get(), image);
  png_destroy_write_struct(&png, &info);
  const bool closed = std::fclose(file.release()) == 0;
  if (!written || !closed) {
    throw std::runtime_error("cannot write '" + path.string() + "': " +
                             (error.message[0] != '\0' ? error.message : "write error"));
  }
}

Image read_png(const std::filesystem::path& path) {
  png_impl::File file = png_impl::open(path, "rb");
  png_impl::PngError error;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, png_impl::on_error,
                                           png_impl::on_warning);
  png_infop info = png != nullptr ? png_create_info_struct(png) : nullptr;
  Image image;
  bool read = info != nullptr && png_impl::read_header(png, info, file.get(), image);
  const bool supported =
      read && png_get_interlace_type(png, info) == PNG_INTERLACE_NONE &&
      ((image.channels == 1 && (image.bit_depth == 8 || image.bit_depth == 4)) ||
       (image.channels == 3 && image.bit_depth == 8));
  if (supported) {
    image.pixels.resize(image.height * image.row_bytes());
    read = png_impl::read_rows(png, info, image.pixels.data(), image.row_bytes(), image.height);
  }
  png_destroy_read_struct(&png, &info, nullptr);
  if (!read) {
    throw std::runtime_error("cannot read '" + path.string() + "' as a PNG: " +
                             (error.message[0] != '\0' ? error.message : "read error"));
  }
  if (!supported) {
    throw std::runtime_error("'" + path.string() + "': a PNG of " +
                             std::to_string(image.channels) + " channels of " +
                             std::to_string(image.bit_depth) + " bits, which this does not read");
  }
  return image;
}

std::filesystem::path output_path(const DemoOptions& options, std::string_view file_name) {
  if (!options.out.empty()) return options.out;
  return std::filesystem::temp_directory_path() / file_name;
}

}  // namespace troupe::demos
