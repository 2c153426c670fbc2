// report.html as a browser draws it: headless Chromium screenshots the page rendered from the fixture,
// libpng decodes the PNG, and the picture must not be blank — enough ink, many colours, and the chosen
// candidate's green from the charts. Skips (saying why) when no Chromium is installed; `make deps`
// installs it. BITDIAL_REPORT_SCREENSHOT=PATH keeps a copy of the PNG for a human to look at.
#include <gtest/gtest.h>
#include <png.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "decide/report_html.h"
#include "results_fixture.h"
#include "test_support.h"

namespace bitdial {
namespace {

namespace fs = std::filesystem;

std::string find_chromium() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (const char* name : {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}) {
    size_t start = 0;
    while (start <= dirs.size()) {
      size_t end = dirs.find(':', start);
      if (end == std::string::npos) end = dirs.size();
      fs::path p = fs::path(dirs.substr(start, end - start)) / name;
      std::error_code ec;
      if (!p.parent_path().empty() && fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0) return p.string();
      start = end + 1;
    }
  }
  return "";
}

struct Rgb {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // (height, width, 3)
};

Rgb read_png(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) ADD_FAILURE() << "not a PNG: " << image.message;
  image.format = PNG_FORMAT_RGB;
  Rgb out;
  out.width = image.width;
  out.height = image.height;
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr))
    ADD_FAILURE() << "PNG decode failed: " << image.message;
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

TEST(ReportRender, ChromiumDrawsTablesAndCharts) {
  std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "no chromium on PATH (chromium, chromium-browser): `make deps` installs it";
  test::TempDir dir;
  std::string html = dir.file("report.html"), png = dir.file("report.png");
  {
    std::ofstream f(html, std::ios::binary);
    f << render_report_html(test::results_chosen());
  }
  // A private profile keeps runs independent; `timeout` bounds a browser that hangs on a headless box.
  std::string cmd = "timeout 90 " + shell_quote(chromium) +
                    " --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run"
                    " --user-data-dir=" + shell_quote(dir.file("profile")) + " --screenshot=" + shell_quote(png) +
                    " --window-size=1280,2400 " + shell_quote("file://" + html) + " >" +
                    shell_quote(dir.file("chromium.log")) + " 2>&1";
  int rc = std::system(cmd.c_str());
  ASSERT_EQ(rc, 0) << cmd;
  ASSERT_TRUE(fs::exists(png)) << "no screenshot written";
  if (const char* keep = std::getenv("BITDIAL_REPORT_SCREENSHOT")) fs::copy_file(png, keep, fs::copy_options::overwrite_existing);

  Rgb img = read_png(png);
  ASSERT_EQ(img.width, 1280u);
  ASSERT_EQ(img.height, 2400u);
  size_t n = static_cast<size_t>(img.width) * img.height, ink = 0, green = 0;
  std::set<int> colours;  // 4 bits per channel: anti-aliasing shades collapse, real colours stay apart
  for (size_t i = 0; i < n; ++i) {
    int r = img.pixels[3 * i], g = img.pixels[3 * i + 1], b = img.pixels[3 * i + 2];
    if (r < 235 || g < 235 || b < 235) ++ink;
    colours.insert((r >> 4) << 8 | (g >> 4) << 4 | (b >> 4));
    // The chosen candidate's marks and bar (#16a34a).
    if (std::abs(r - 0x16) < 24 && std::abs(g - 0xa3) < 24 && std::abs(b - 0x4a) < 24) ++green;
  }
  double share = static_cast<double>(ink) / static_cast<double>(n);
  EXPECT_GT(share, 0.05) << "page nearly blank: " << ink << " non-white pixels of " << n;
  EXPECT_LT(share, 0.6) << "page mostly dark: rendering failed?";
  EXPECT_GE(colours.size(), 60u) << "too few distinct colours for tables and six charts";
  EXPECT_GT(green, 200u) << "no chosen-candidate green: charts did not draw";
}

}  // namespace
}  // namespace bitdial
