// examples/gradcam as a user runs it on two networks trained here (a ResNet-8 with SE and the
// plain one, on the toy data of toy_training.h): the pictures and the page that shows them,
// an image file as input, and each bad input an error with its reason and exit status 1.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "support/canvas.h"
#include "support/png_size.h"
#include "support/shell.h"
#include "toy_training.h"

using namespace fovea;
using fovea::test::png_size;
using fovea::test::run_command;

TEST_CASE("gradcam program: pictures of two networks side by side, a page, and its errors") {
  test::TempDir data, runs;
  test::write_toy_mnist(data, 48, 8);
  test::train_toy(data, runs, "se", "se");
  test::train_toy(data, runs, "plain", "none");

  // An image file: a 10 x 6 grey picture, decoded to the networks' 1 x 8 x 8 input.
  plot::Canvas file_picture(10, 6);
  file_picture.rect(2, 1, 6, 4, 0x404040);
  const std::string image = runs.file("square.png");
  plot::save_png(file_picture, image);

  const std::string out = runs.file("cams");
  const auto ok = run_command({FOVEA_GRADCAM_BIN, "--checkpoint", runs.file("se"), "--compare",
                               runs.file("plain"), "--index", "0", "3", "--image", image,
                               "--size", "64", "--out", out});
  INFO(ok.output);
  REQUIRE(ok.exit_code == 0);
  const std::string page = test::read_file(out + "/index.html");
  for (int i = 0; i < 3; ++i) {
    const std::string n = std::to_string(i);
    CAPTURE(n);
    CHECK(png_size(out + "/input_" + n + ".png") == std::pair<int, int>{64, 64});
    for (const std::string cam : {"cam1_", "cam2_"}) {
      const auto [w, h] = png_size(out + "/" + cam + n + ".png");
      CHECK(h == 34 + 64 + 10);  // title band, the map, margin
      CHECK(w > 64 + 40);        // and the colour bar beside it
      CHECK(page.find("src=\"" + cam + n + ".png\"") != std::string::npos);
    }
    CHECK(page.find("src=\"input_" + n + ".png\"") != std::string::npos);
  }
  CHECK(page.find("test image 3") != std::string::npos);
  CHECK(page.find("se: ") != std::string::npos);    // each network's top-5 classes
  CHECK(page.find("none: ") != std::string::npos);
  CHECK(page.find("%") != std::string::npos);

  auto fails = [&](std::vector<std::string> args, const std::string& why) {
    args.insert(args.begin(), {FOVEA_GRADCAM_BIN, "--checkpoint", runs.file("se"), "--out",
                               runs.file("bad")});
    const auto r = run_command(args);
    CAPTURE(why);
    CHECK(r.exit_code == 1);
    CHECK(r.output.find(why) != std::string::npos);
  };
  fails({"--index", "0", "--layer", "layer9"}, "no layer \"layer9\" in the network");
  fails({"--index", "0", "--class", "99"}, "class 99 is out of range for 10 classes");
  fails({"--index", "8"}, "--index 8 is outside the test set (8 images)");
  fails({}, "no images: give --index N or --image FILE");
  test::write_text(runs.file("notes.png"), "not a picture");
  fails({"--image", runs.file("notes.png")}, runs.file("notes.png"));
  fails({"--index", "0", "--method", "cam"}, "unknown method \"cam\"");
  const auto missing = run_command({FOVEA_GRADCAM_BIN, "--checkpoint", runs.file("nowhere"),
                                    "--index", "0", "--out", runs.file("bad")});
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.find(runs.file("nowhere")) != std::string::npos);
}
