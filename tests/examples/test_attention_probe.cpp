// examples/attention_probe as a user runs it: a fixture's IN file through the program gives the
// reference's output file; --list shows every module with its options; a bad input exits 1 with
// the reason and leaves no output file.
#include <doctest/doctest.h>

#include "attention/register.h"
#include "engine/fovea.h"
#include "support/shell.h"
#include "support/temp_files.h"

using namespace fovea;
using fovea::test::run_command;

namespace {
const std::string kFixtures = std::string(FOVEA_TEST_FIXTURES) + "/attention/";
}

TEST_CASE("attention_probe program: round-trips a fixture, lists modules, refuses bad input") {
  test::TempDir dir;
  const std::string out = dir.file("out.safetensors");
  const auto ok = run_command({FOVEA_PROBE_BIN, "--module", "cbam", "--options",
                               "reduction_ratio=4,pool_types=avg+max+lp+lse", "--mode", "train",
                               "--in", kFixtures + "cbam-all-pools.in.safetensors", "--out", out});
  INFO(ok.output);
  REQUIRE(ok.exit_code == 0);
  const io::SafetensorsFile got = io::load_safetensors(out);
  const io::SafetensorsFile want = io::load_safetensors(kFixtures + "cbam-all-pools.out.safetensors");
  CHECK(got.tensors.size() == want.tensors.size());
  for (const auto& item : want.tensors) {
    const std::string& key = item.first;  // not a binding: CAPTURE's lambda captures it
    const Tensor& value = item.second;
    CAPTURE(key);
    REQUIRE(got.contains(key));
    const Tensor a = got.at(key).to(DType::Float64), r = value.to(DType::Float64);
    CHECK(amax(abs(a - r)).item() <= 1e-10 * std::max(1.0, amax(abs(r)).item()));
  }
  CHECK(got.metadata.at("module") == "cbam");

  const auto list = run_command({FOVEA_PROBE_BIN, "--list"});
  CHECK(list.exit_code == 0);
  for (const auto& name : attention::builtin_names()) CHECK(list.output.find(name + ": ") != std::string::npos);
  CHECK(list.output.find("pool_types=avg+max") != std::string::npos);

  // An option the module does not take: an error, status 1, no file.
  const std::string bad = dir.file("bad.safetensors");
  const auto refused = run_command({FOVEA_PROBE_BIN, "--module", "se", "--options", "ratio=4",
                                    "--in", kFixtures + "se.in.safetensors", "--out", bad});
  CHECK(refused.exit_code == 1);
  CHECK(refused.output.find("attention se: unknown option \"ratio\" (valid: reduction, bias)") !=
        std::string::npos);
  // A fixture for another module: its keys are not this module's.
  const auto wrong = run_command({FOVEA_PROBE_BIN, "--module", "se", "--options", "reduction=4",
                                  "--in", kFixtures + "cbam-train.in.safetensors", "--out", bad});
  CHECK(wrong.exit_code == 1);
  CHECK(wrong.output.find("unknown key \"ChannelGate.mlp.1.weight\"") != std::string::npos);
  CHECK(dir.listing() == std::vector<std::string>{"out.safetensors"});
}
