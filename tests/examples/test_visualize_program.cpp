// examples/visualize_attention as a user runs it on a ResNet-8 with CBAM trained here (toy data
// of toy_training.h): a picture per map (CBAM's spatial maps over the image, its channel
// weights as bars), the page with the top-5 classes, --layer and --query, and each bad input an
// error with its reason and exit status 1 (a network without attention among them).
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "support/png_size.h"
#include "support/shell.h"
#include "toy_training.h"

using namespace fovea;
using fovea::test::png_size;
using fovea::test::run_command;

TEST_CASE("visualize_attention program: a picture per map of the kept modules, a page, errors") {
  test::TempDir data, runs;
  test::write_toy_mnist(data, 48, 8);
  test::train_toy(data, runs, "cbam", "cbam:reduction_ratio=4");

  const std::string out = runs.file("maps");
  const auto ok = run_command({FOVEA_VISUALIZE_BIN, "--checkpoint", runs.file("cbam"), "--index",
                               "0", "5", "--size", "64", "--out", out});
  INFO(ok.output);
  REQUIRE(ok.exit_code == 0);
  const std::string page = test::read_file(out + "/index.html");
  // ResNet-8: one block per stage, each with a CBAM (layer1.0.cbam ... layer3.0.cbam).
  for (const std::string image : {"0", "1"})
    for (const std::string block : {"layer1.0", "layer2.0", "layer3.0"}) {
      const std::string spatial = image + "_" + block + ".cbam.spatial.png";
      const std::string channel = image + "_" + block + ".cbam.channel.png";
      CAPTURE(spatial);
      CHECK(png_size(out + "/" + spatial).second == 34 + 64 + 10);  // over the square image
      CHECK(png_size(out + "/" + channel).first == 600);            // bars
      CHECK(page.find("src=\"" + spatial + "\"") != std::string::npos);
      CHECK(page.find("src=\"" + channel + "\"") != std::string::npos);
    }
  CHECK(page.find("top 5: ") != std::string::npos);
  CHECK(page.find("test image 5") != std::string::npos);

  // --layer keeps one block; --query is a position of the input.
  const std::string one = runs.file("one");
  const auto kept = run_command({FOVEA_VISUALIZE_BIN, "--checkpoint", runs.file("cbam"), "--index",
                                 "0", "--layer", "layer2", "--query", "1", "6", "--out", one});
  INFO(kept.output);
  REQUIRE(kept.exit_code == 0);
  CHECK(std::filesystem::exists(one + "/0_layer2.0.cbam.spatial.png"));
  CHECK_FALSE(std::filesystem::exists(one + "/0_layer1.0.cbam.spatial.png"));

  // SAGAN's attention matrix: the row of the query, given in input pixels (layer1 sees the
  // 8 x 8 input itself, layer2 the 4 x 4 maps after its stride: the query halves there).
  test::train_toy(data, runs, "sagan", "sagan");
  const std::string rows = runs.file("rows");
  const auto query = run_command({FOVEA_VISUALIZE_BIN, "--checkpoint", runs.file("sagan"),
                                  "--index", "0", "--layer", "layer1", "layer2", "--query", "2",
                                  "5", "--out", rows});
  INFO(query.output);
  REQUIRE(query.exit_code == 0);
  const std::string rows_page = test::read_file(rows + "/index.html");
  CHECK(rows_page.find("layer1.0.sagan.attention<br>attention of position (2, 5)") !=
        std::string::npos);
  CHECK(rows_page.find("layer2.0.sagan.attention<br>attention of position (1, 2)") !=
        std::string::npos);

  test::train_toy(data, runs, "plain", "none");
  auto fails = [&](const std::string& run, std::vector<std::string> args, const std::string& why) {
    args.insert(args.begin(), {FOVEA_VISUALIZE_BIN, "--checkpoint", runs.file(run), "--out",
                               runs.file("bad")});
    const auto r = run_command(args);
    CAPTURE(why);
    CHECK(r.exit_code == 1);
    CHECK(r.output.find(why) != std::string::npos);
  };
  fails("plain", {"--index", "0"},
        "is a network without attention (trained with --attention none)");
  fails("cbam", {"--index", "0", "--layer", "layer9"},
        "no attention module under --layer; the network's: layer1.0.cbam, layer2.0.cbam");
  fails("cbam", {"--index", "0", "--query", "8", "0"}, "--query (8, 0) is outside the 8x8 input");
  fails("cbam", {"--index", "9"}, "--index 9 is outside the test set (8 images)");
  fails("cbam", {}, "no images: give --index N or --image FILE");
  test::write_text(runs.file("notes.png"), "not a picture");
  fails("cbam", {"--image", runs.file("notes.png")}, runs.file("notes.png"));
}
