// examples/attention_probe as a user runs it: a fixture's IN file through the program gives the
// reference's output file; --list shows every module with its options; a bad input exits 1 with
// the reason and leaves no output file.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "attention/register.h"
#include "engine/fovea.h"
#include "support/shell.h"
#include "support/temp_files.h"

using namespace fovea;
using fovea::test::run_command;

namespace {
const std::string kFixtures = std::string(FOVEA_TEST_FIXTURES) + "/attention/";

// Runs the program on fixture `name`'s IN file with `args` and compares every tensor of its
// OUT file; returns the written file's metadata.
std::map<std::string, std::string> round_trip(const test::TempDir& dir, const std::string& name,
                                              std::vector<std::string> args) {
  const std::string out = dir.file(name + ".safetensors");
  args.insert(args.begin(), FOVEA_PROBE_BIN);
  args.insert(args.end(), {"--mode", "train", "--in", kFixtures + name + ".in.safetensors",
                           "--out", out});
  const auto ok = run_command(args);
  INFO(ok.output);
  REQUIRE(ok.exit_code == 0);
  const io::SafetensorsFile got = io::load_safetensors(out);
  const io::SafetensorsFile want = io::load_safetensors(kFixtures + name + ".out.safetensors");
  CHECK(got.tensors.size() == want.tensors.size());
  for (const auto& item : want.tensors) {
    const std::string& key = item.first;  // not a binding: CAPTURE's lambda captures it
    const Tensor& value = item.second;
    CAPTURE(key);
    REQUIRE(got.contains(key));
    const Tensor a = got.at(key).to(DType::Float64), r = value.to(DType::Float64);
    CHECK(amax(abs(a - r)).item() <= 1e-10 * std::max(1.0, amax(abs(r)).item()));
  }
  return got.metadata;
}

}  // namespace

TEST_CASE("attention_probe program: round-trips a fixture, lists modules, refuses bad input") {
  test::TempDir dir;
  CHECK(round_trip(dir, "cbam-all-pools",
                   {"--module", "cbam", "--options", "reduction_ratio=4,pool_types=avg+max+lp+lse"})
            .at("module") == "cbam");
  // SK in place of a strided, widening conv: the program passes --stride and --out-channels.
  const auto sk = round_trip(dir, "sk-stride2-wider-train",
                             {"--module", "sk", "--options", "groups=4,L=4", "--stride", "2",
                              "--out-channels", "32"});
  CHECK(sk.at("stride") == "2");
  CHECK(sk.at("out_channels") == "32");

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
  CHECK(dir.listing() == std::vector<std::string>{"cbam-all-pools.safetensors",
                                                  "sk-stride2-wider-train.safetensors"});
}

// --graph: the autograd graph of the forward as DOT (the input and every parameter as named
// leaves, backward ops as boxes with their shapes), rendered by Graphviz's dot when it is on
// PATH and a one-line hint otherwise; a dot that fails is an error. Stand-in dot programs show
// the arguments the probe passes, so the test needs no Graphviz.
TEST_CASE("attention_probe program: --graph writes the autograd graph and renders it with dot") {
  test::TempDir dir;
  const std::string in = kFixtures + "cbam-train.in.safetensors";
  const std::string options =
      io::load_safetensors(kFixtures + "cbam-train.out.safetensors").metadata.at("options");
  auto probe = [&](const std::string& path, const std::string& graph) {
    return run_command({FOVEA_PROBE_BIN, "--module", "cbam", "--options", options, "--mode",
                        "train", "--in", in, "--out", dir.file("out.safetensors"), "--graph",
                        graph},
                       {"PATH=" + path});
  };
  const std::string empty = dir.file("empty-bin");
  std::filesystem::create_directories(empty + "/dot");  // a folder named dot is not Graphviz
  const auto plain = probe(empty, dir.file("cbam.dot"));
  INFO(plain.output);
  REQUIRE(plain.exit_code == 0);
  CHECK(plain.output.find("dot is not on PATH (Debian: apt install graphviz)") !=
        std::string::npos);
  const std::string dot = test::read_file(dir.file("cbam.dot"));
  CHECK(dot.rfind("digraph autograd {", 0) == 0);
  CHECK(dot.find("label=\"input\\n") != std::string::npos);
  for (const auto& [key, value] : io::load_safetensors(dir.file("out.safetensors")).tensors)
    if (key.rfind("grad.", 0) == 0 && key != "grad.input") {
      const std::string leaf = "label=\"" + key.substr(5) + "\\n";
      CAPTURE(leaf);
      CHECK(dot.find(leaf) != std::string::npos);
    }
  CHECK(dot.find("SigmoidBackward") != std::string::npos);  // the gate's op, torch's name
  CHECK_FALSE(std::filesystem::exists(dir.file("cbam.svg")));

  // A stand-in dot that writes its format into the output file it is given.
  const std::string bin = dir.file("fake-bin");
  std::filesystem::create_directories(bin);
  test::write_text(bin + "/dot", "#!/bin/sh\necho \"$1 $2\" > \"$4\"\n");
  std::filesystem::permissions(bin + "/dot", std::filesystem::perms::owner_all);
  const auto rendered = probe(bin, dir.file("g.dot"));
  INFO(rendered.output);
  REQUIRE(rendered.exit_code == 0);
  CHECK(rendered.output.find("rendered " + dir.file("g.svg") + " and " + dir.file("g.png")) !=
        std::string::npos);
  CHECK(test::read_file(dir.file("g.svg")) == "-Tsvg " + dir.file("g.dot") + "\n");
  CHECK(test::read_file(dir.file("g.png")) == "-Tpng " + dir.file("g.dot") + "\n");

  // A dot that fails: the probe says which command and status, and exits 1.
  test::write_text(bin + "/dot", "#!/bin/sh\nexit 3\n");
  const auto failed = probe(bin, dir.file("h.dot"));
  CHECK(failed.exit_code == 1);
  CHECK(failed.output.find("-Tsvg " + dir.file("h.dot") + " -o " + dir.file("h.svg") +
                           "` failed: exit status 3") != std::string::npos);
}
