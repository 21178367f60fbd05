// Checkpoints that survive damage: the checksum refuses truncated, torn and bit-flipped files
// with an error naming them (version 1 files, written before checksums, still load); a run's
// folder keeps the previous checkpoint, and find_latest_checkpoint picks the newest good one by
// stored epoch and step, skips damaged ones and temporary files, and names what it found when
// none is good.
#include <doctest/doctest.h>

#include <climits>
#include <functional>
#include <sstream>

#include "io/io_support.h"
#include "layers/layers.h"

using namespace fovea;
using nn::TrainingState;
using test::contains;
using test::identical;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

const char* kDesc = "linear(3, 2)";

std::shared_ptr<nn::Linear> make_model(uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<nn::Linear>(3, 2);
}

TrainingState state_at(int64_t epoch, int64_t step = -1) {
  TrainingState s;
  s.epoch = epoch;
  s.step = step < 0 ? 10 * epoch : step;
  s.model_desc = kDesc;
  s.rng = {{"default", default_generator().state()}};
  s.extra = {{"note", "epoch " + std::to_string(epoch)}};
  return s;
}

// A checkpoint of a model drawn from `seed`, with an SGD optimiser's momentum.
void save(const std::string& path, uint64_t seed, const TrainingState& state) {
  auto model = make_model(seed);
  optim::SGD opt(model->parameters(), 0.1, 0.9);
  opt.zero_grad();
  sum((*model)(ones({4, 3}))).backward();
  opt.step();
  nn::save_checkpoint(path, *model, &opt, state);
}

void save_in(const std::string& folder, uint64_t seed, const TrainingState& state) {
  auto model = make_model(seed);
  nn::save_run_checkpoint(folder, *model, nullptr, state);
}

int64_t epoch_of(const std::string& path) { return nn::read_checkpoint_state(path).epoch; }

void truncate_to_half(const std::string& path) {
  std::vector<uint8_t> bytes = test::read_bytes(path);
  bytes.resize(bytes.size() / 2);
  test::write_bytes(path, bytes);
}

void flip_last_bytes(const std::string& path) {  // the end of the last tensor's data
  std::vector<uint8_t> bytes = test::read_bytes(path);
  for (size_t i = bytes.size() - 3; i < bytes.size(); ++i) bytes[i] ^= 0x5a;
  test::write_bytes(path, bytes);
}

}  // namespace

TEST_CASE("checkpoint: any flipped byte is refused or changes nothing the load returns") {
  TempDir dir;
  const std::string path = dir.file("c.safetensors");
  save(path, 1, state_at(3));
  const std::vector<uint8_t> good = test::read_bytes(path);
  auto reference = make_model(9);
  optim::SGD reference_opt(reference->parameters(), 0.1, 0.9);
  nn::load_checkpoint(path, kDesc, *reference, &reference_opt);

  int refused = 0, harmless = 0;
  for (size_t i = 0; i < good.size(); ++i)
    for (uint8_t mask : {0x01, 0x02, 0x80}) {
      std::vector<uint8_t> bytes = good;
      bytes[i] ^= mask;
      test::write_bytes(path, bytes);
      auto model = make_model(9);
      optim::SGD opt(model->parameters(), 0.1, 0.9);
      try {
        const TrainingState s = nn::load_checkpoint(path, kDesc, *model, &opt);
        // Only bytes the format ignores (JSON whitespace of the header's padding) may change.
        CAPTURE(i);
        CHECK(s.epoch == 3);
        CHECK(s.extra == state_at(3).extra);
        CHECK(identical(model->weight, reference->weight));
        CHECK(identical(model->bias, reference->bias));
        CHECK(opt.state_dict().meta == reference_opt.state_dict().meta);
        ++harmless;
      } catch (const Error& e) {
        CHECK(std::string(e.what()).find(path) != std::string::npos);
        ++refused;
      }
    }
  MESSAGE(refused, " flips refused, ", harmless, " harmless");
  CHECK(harmless < int(good.size()) / 4);

  // A flip in the data buffer is caught by the checksum alone.
  test::write_bytes(path, good);
  flip_last_bytes(path);
  CHECK_THROWS_WITH_AS(nn::read_checkpoint_state(path),
                       contains("load_checkpoint: " + path + " is damaged: its contents give "
                                "checksum crc32:"),
                       Error);
}

TEST_CASE("checkpoint: truncated files and torn copies are damaged files named in the error") {
  TempDir dir;
  const std::string a = dir.file("a.safetensors"), b = dir.file("b.safetensors");
  save(a, 1, state_at(3));
  save(b, 2, state_at(4));  // same layout, so the same header length
  const std::vector<uint8_t> bytes_a = test::read_bytes(a), bytes_b = test::read_bytes(b);
  REQUIRE(bytes_a.size() == bytes_b.size());

  // The first half of one and the second half of the other, as an interrupted copy would leave.
  std::vector<uint8_t> torn(bytes_a.begin(), bytes_a.begin() + std::ptrdiff_t(bytes_a.size() / 2));
  torn.insert(torn.end(), bytes_b.begin() + std::ptrdiff_t(bytes_a.size() / 2), bytes_b.end());
  test::write_bytes(a, torn);
  CHECK_THROWS_WITH_AS(nn::read_checkpoint_state(a),
                       contains("load_checkpoint: " + a + " is damaged"), Error);

  test::write_bytes(a, bytes_a);
  truncate_to_half(a);
  CHECK_THROWS_WITH_AS(nn::read_checkpoint_state(a), contains("load_safetensors: " + a), Error);
}

TEST_CASE("checkpoint: version 1 files without a checksum load and version 2 ones must have one") {
  TempDir dir;
  const std::string path = dir.file("c.safetensors");
  save(path, 1, state_at(3));
  const io::SafetensorsFile file = io::load_safetensors(path);
  io::save_safetensors(path, file.tensors, test::as_version_1(file.metadata));
  auto model = make_model(9);
  CHECK(nn::load_checkpoint(path, kDesc, *model, nullptr).epoch == 3);
  CHECK(identical(model->weight, file.at("model.weight")));

  std::map<std::string, std::string> no_checksum = file.metadata;
  no_checksum.erase("checksum");
  io::save_safetensors(path, file.tensors, no_checksum);
  CHECK_THROWS_WITH_AS(nn::read_checkpoint_state(path),
                       contains("load_checkpoint: " + path +
                                " is damaged: its metadata has no \"checksum\""),
                       Error);
}

TEST_CASE("checkpoint folder: the previous checkpoint is kept and a damaged newest falls back") {
  TempDir dir;
  const std::string folder = dir.path.string();
  const std::string latest = dir.file("checkpoint.safetensors");
  const std::string previous = dir.file("checkpoint.prev.safetensors");
  save_in(folder, 1, state_at(1));
  CHECK(dir.listing() == std::vector<std::string>{"checkpoint.safetensors"});
  save_in(folder, 2, state_at(2));
  save_in(folder, 3, state_at(3));
  CHECK(dir.listing() ==
        std::vector<std::string>{"checkpoint.prev.safetensors", "checkpoint.safetensors"});
  CHECK(epoch_of(latest) == 3);
  CHECK(epoch_of(previous) == 2);

  nn::LatestCheckpoint found = nn::find_latest_checkpoint(folder);
  CHECK(found.path == latest);
  CHECK(found.state.epoch == 3);
  CHECK(found.skipped.empty());

  for (auto damage : {truncate_to_half, flip_last_bytes}) {
    save_in(folder, 3, state_at(3));  // latest epoch 3, previous epoch 2 again
    damage(latest);
    found = nn::find_latest_checkpoint(folder);
    CHECK(found.path == previous);
    CHECK(found.state.epoch == 2);
    REQUIRE(found.skipped.size() == 1);
    CHECK(found.skipped[0].first == latest);
    CHECK(found.skipped[0].second.find(latest) != std::string::npos);

    std::ostringstream notes;
    CHECK(nn::resolve_checkpoint(folder, notes) == previous);
    const std::string note = notes.str();
    CHECK(note.starts_with("resume: skipping checkpoint.safetensors: "));
    CHECK(std::count(note.begin(), note.end(), '\n') == 1);

    // The next save does not make the damaged file the previous one.
    save_in(folder, 4, state_at(3, 31));
    CHECK(epoch_of(latest) == 3);
    CHECK(epoch_of(previous) == 2);
  }
}

TEST_CASE("checkpoint folder: the newest is chosen by stored epoch and step not by file time") {
  TempDir dir;
  save(dir.file("checkpoint-a.safetensors"), 1, state_at(7));
  save(dir.file("checkpoint-b.safetensors"), 2, state_at(7, 75));
  save(dir.file("checkpoint-c.safetensors"), 3, state_at(5));
  save(dir.file("best.safetensors"), 4, state_at(9));  // not named checkpoint*: not considered
  const auto c_time = fs::last_write_time(dir.file("checkpoint-c.safetensors"));
  fs::last_write_time(dir.file("checkpoint-b.safetensors"), c_time - std::chrono::hours(1));
  const nn::LatestCheckpoint found = nn::find_latest_checkpoint(dir.path.string());
  CHECK(found.path == dir.file("checkpoint-b.safetensors"));
  CHECK(found.state.step == 75);

  std::ostringstream notes;
  CHECK(nn::resolve_checkpoint(dir.file("checkpoint-c.safetensors"), notes) ==
        dir.file("checkpoint-c.safetensors"));  // a file is taken as is
  CHECK(notes.str().empty());
}

TEST_CASE("checkpoint folder: temporary files are never taken for checkpoints and get removed") {
  TempDir dir;
  const std::string folder = dir.path.string();
  save_in(folder, 1, state_at(1));
  // A whole, good checkpoint of a later epoch under a dead writer's temporary name: it was never
  // renamed into place, so it does not count.
  const std::string stale = dir.file("checkpoint.safetensors.tmp." + std::to_string(INT_MAX));
  const std::string stale_previous =
      dir.file("checkpoint.prev.safetensors.tmp." + std::to_string(INT_MAX));
  save(stale, 2, state_at(9));
  fs::copy_file(stale, stale_previous);
  nn::LatestCheckpoint found = nn::find_latest_checkpoint(folder);
  CHECK(found.state.epoch == 1);
  CHECK(found.skipped.empty());

  save_in(folder, 2, state_at(2));  // the next save removes them
  CHECK(dir.listing() ==
        std::vector<std::string>{"checkpoint.prev.safetensors", "checkpoint.safetensors"});

  TempDir only_temp;
  save(only_temp.file("checkpoint.safetensors.tmp." + std::to_string(INT_MAX)), 2, state_at(9));
  CHECK_THROWS_WITH_AS(nn::find_latest_checkpoint(only_temp.path.string()),
                       contains("find_latest_checkpoint: no checkpoint in " +
                                only_temp.path.string() +
                                " (no checkpoint*.safetensors file; the folder holds "
                                "checkpoint.safetensors.tmp." + std::to_string(INT_MAX) + ")"),
                       Error);
}

TEST_CASE("checkpoint folder: no good checkpoint is an error naming each file and why") {
  TempDir dir;
  const std::string folder = dir.path.string();
  CHECK_THROWS_WITH_AS(nn::find_latest_checkpoint(folder),
                       contains("no checkpoint in " + folder +
                                " (no checkpoint*.safetensors file; the folder holds nothing)"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::find_latest_checkpoint(dir.file("missing")),
                       contains("find_latest_checkpoint: " + dir.file("missing") +
                                " does not exist"),
                       Error);

  save_in(folder, 1, state_at(1));
  save_in(folder, 2, state_at(2));
  truncate_to_half(dir.file("checkpoint.safetensors"));
  flip_last_bytes(dir.file("checkpoint.prev.safetensors"));
  test::write_text(dir.file("metrics.csv"), "epoch\n");
  std::ostringstream notes;
  CHECK_THROWS_WITH_AS(
      nn::resolve_checkpoint(folder, notes),
      contains("find_latest_checkpoint: no good checkpoint in " + folder +
               ", all 2 are damaged; load_checkpoint: " + dir.file("checkpoint.prev.safetensors") +
               " is damaged: its contents give checksum crc32:"),
      Error);
  CHECK_THROWS_WITH_AS(nn::resolve_checkpoint(folder, notes),
                       contains("; load_safetensors: " + dir.file("checkpoint.safetensors")),
                       Error);
}

TEST_CASE("checkpoint folder: the first save of a fresh run drops a later one of another run") {
  TempDir dir;
  const std::string folder = dir.path.string();
  save_in(folder, 1, state_at(29));  // a longer run that used this folder before
  save_in(folder, 1, state_at(30));
  save_in(folder, 2, state_at(1));   // a fresh run's first epoch
  CHECK(dir.listing() == std::vector<std::string>{"checkpoint.safetensors"});
  CHECK(nn::find_latest_checkpoint(folder).state.epoch == 1);
  save_in(folder, 2, state_at(2));
  CHECK(epoch_of(dir.file("checkpoint.prev.safetensors")) == 1);
}

TEST_CASE("checkpoint folder: a save that fails keeps the only good checkpoint however stale") {
  TempDir dir;
  const std::string folder = dir.path.string();
  const std::string latest = dir.file("checkpoint.safetensors");
  const std::string previous = dir.file("checkpoint.prev.safetensors");
  // Another run's checkpoints (steps 290 and 300), the newest damaged: the previous one is the
  // folder's only good checkpoint, and stale for a fresh run (step 10), which removes it once its
  // own is in place, and not before: a kill in between would leave no good checkpoint, as does a
  // write that fails there, which these two do.
  auto fails_in_save = [&] {
    TrainingState state = state_at(1);
    state.extra = {{"note", "\xff not UTF-8"}};
    CHECK_THROWS_WITH_AS(save_in(folder, 2, state),
                         contains("save_checkpoint: " + latest + ": \"extra\" cannot be written"),
                         Error);
  };
  auto fails_at_rename = [&] {
    fs::remove(latest);
    fs::create_directories(fs::path(latest) / "inside");
    CHECK_THROWS_WITH_AS(save_in(folder, 2, state_at(1)),
                         contains("cannot rename " + latest + ".tmp."), Error);
    fs::remove_all(latest);
  };
  for (const auto& fail : std::vector<std::function<void()>>{fails_in_save, fails_at_rename}) {
    save_in(folder, 1, state_at(29));
    save_in(folder, 1, state_at(30));
    truncate_to_half(latest);
    fail();
    REQUIRE(fs::exists(previous));
    CHECK(nn::find_latest_checkpoint(folder).path == previous);
    CHECK(epoch_of(previous) == 29);
    fs::remove(previous);
  }

  save_in(folder, 1, state_at(29));
  save_in(folder, 1, state_at(30));
  truncate_to_half(latest);
  save_in(folder, 2, state_at(1));  // the stale previous goes once the new checkpoint is in place
  CHECK(dir.listing() == std::vector<std::string>{"checkpoint.safetensors"});
  CHECK(epoch_of(latest) == 1);
}
