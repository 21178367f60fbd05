// examples/attention_zoo's library (examples/support/zoo.h) on the trainer's toy data: a row per
// module with parameters and MACs counted from the ops that ran (the plain ResNet-8 against a
// hand count), the CSV and the chart, a rerun that keeps finished modules and resumes an
// interrupted one, and the errors for an unknown module and a foreign CSV.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>

#include "engine/core/error.h"
#include "examples/toy_training.h"
#include "support/zoo.h"

using namespace fovea;
using test::read_file;
namespace fs = std::filesystem;

namespace {

zoo::Options toy_zoo(const test::TempDir& data, const std::string& out) {
  zoo::Options o;
  o.base = test::toy_config(data, out + "/unused");
  o.base.epochs = 1;
  o.modules = {"none", "se", "cbam:reduction_ratio=4,pool_types=avg+max"};
  o.out = out;
  return o;
}

}  // namespace

TEST_CASE("attention zoo: one row per module with counted MACs and a CSV and chart") {
  test::TempDir data, out;
  test::write_toy_mnist(data, 64, 32);
  std::ostringstream log;
  const auto rows = zoo::run(toy_zoo(data, out.file("zoo")), log);
  REQUIRE(rows.size() == 3);
  for (const auto& r : rows) {
    CAPTURE(r.module);
    CHECK(r.status == "ok");
    CHECK(r.epochs == 1);
    CHECK(r.images_per_second > 0);
    CHECK(r.peak_mib > 0);
    CHECK(r.test_acc >= 0);
  }
  CHECK(rows[1].attention == "se");
  CHECK(rows[2].attention == "cbam:reduction_ratio=4,pool_types=avg+max");
  // ResNet-8 on 1x8x8 images, shortcut A (no convs on the shortcut), by hand:
  //   conv1 1->16 at 8x8: 64*16*9          =   9216
  //   layer1 two 16->16 at 8x8: 2*64*16*16*9 = 294912
  //   layer2 16->32 and 32->32 at 4x4: 16*32*16*9 + 16*32*32*9 = 73728 + 147456
  //   layer3 32->64 and 64->64 at 2x2: 4*64*32*9 + 4*64*64*9 = 73728 + 147456
  //   fc 64->10: 640
  CHECK(rows[0].macs == 9216 + 294912 + 73728 + 147456 + 73728 + 147456 + 640);
  // SE adds its two linear layers per block: C*(C/16)*2 for C = 16, 32, 64.
  CHECK(rows[1].macs - rows[0].macs == 2 * (16 * 1 + 32 * 2 + 64 * 4));
  CHECK(rows[1].params > rows[0].params);
  CHECK(rows[2].macs > rows[0].macs);
  const std::string csv = read_file(out.file("zoo") + "/zoo.csv");
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 4);
  CHECK(fs::file_size(out.file("zoo") + "/zoo.png") > 1000);
  const std::string table = zoo::table(rows);
  CHECK(table.find("vs plain") != std::string::npos);
  CHECK(table.find("cbam:reduction_ratio=4,pool_types=avg+max") != std::string::npos);
  // The CSV reads back (a module with options holds commas).
  const auto back = zoo::read_csv(out.file("zoo") + "/zoo.csv");
  REQUIRE(back.size() == 3);
  CHECK(back[2].module == rows[2].module);
  CHECK(back[2].macs == rows[2].macs);
}

TEST_CASE("attention zoo: a rerun keeps finished modules and resumes an interrupted one") {
  test::TempDir data, out;
  test::write_toy_mnist(data, 64, 32);
  const zoo::Options o = toy_zoo(data, out.file("zoo"));
  std::ostringstream first;
  const auto rows = zoo::run(o, first);
  // As if killed after cbam's epoch was saved but before its row was written.
  const std::string csv = out.file("zoo") + "/zoo.csv";
  zoo::write_csv(csv, {rows[0], rows[1]});
  std::ostringstream second;
  const auto again = zoo::run(o, second);
  CHECK(second.str().find("== none: done before") != std::string::npos);
  CHECK(second.str().find("== se: done before") != std::string::npos);
  CHECK(second.str().find("resumed from") != std::string::npos);
  REQUIRE(again.size() == 3);
  CHECK(again[2].test_acc == rows[2].test_acc);  // the resumed run re-evaluates the same weights
  CHECK(again[2].peak_mib == rows[2].peak_mib);  // from the epoch it trained before
  CHECK(again[0].test_acc == rows[0].test_acc);
  CHECK(zoo::read_csv(csv).size() == 3);
  // A run of one module keeps the others' rows.
  zoo::Options one = o;
  one.modules = {"se"};
  std::ostringstream third;
  CHECK(zoo::run(one, third).size() == 1);
  CHECK(zoo::read_csv(csv).size() == 3);
}

TEST_CASE("attention zoo: an unknown module and a foreign CSV are errors") {
  test::TempDir data, out;
  test::write_toy_mnist(data, 32, 16);
  zoo::Options o = toy_zoo(data, out.file("zoo"));
  o.modules = {"none", "nonlocal"};
  std::ostringstream log;
  CHECK_THROWS_WITH_AS(zoo::run(o, log), doctest::Contains("nonlocal"), Error);
  fs::create_directories(out.file("other"));
  test::write_bytes(out.file("other") + "/zoo.csv", {'a', ',', 'b', '\n'});
  o.modules = {"none"};
  o.out = out.file("other");
  CHECK_THROWS_WITH_AS(zoo::run(o, log), doctest::Contains("is not a zoo table"), Error);
}
