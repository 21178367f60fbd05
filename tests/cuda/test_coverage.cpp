// Every kernel slot has a CUDA twin, in every CUDA backend this build has (installing a
// backend needs no device, so the nvcc backend's coverage is checked without a GPU too). A new
// slot without a twin fails here until cuda/ gets one.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>

#include "engine/core/cuda_backend.h"
#include "engine/core/dispatch.h"

using namespace fovea;

TEST_CASE("cuda coverage: every kernel slot has a CUDA twin") {
  const CudaBackend* runner_backend = selected_cuda_backend();
  for (const char* name : {"emu", "gpu"}) {
    if (!find_cuda_backend(name)) continue;
    select_cuda_backend(name);
    ensure_backends_registered();
    int with_cuda = 0;
    const std::vector<KernelSlotBase*> slots = all_kernel_slots();
    for (const KernelSlotBase* slot : slots) {
      INFO("backend ", name, ", slot ", slot->name());
      CHECK(slot->has_cuda());
      with_cuda += slot->has_cuda();
    }
    std::cout << "CUDA twins (" << name << " backend): " << with_cuda << "/" << slots.size()
              << " kernel slots\n";
  }
  select_cuda_backend(runner_backend ? runner_backend->name : "auto");
}

TEST_CASE("cuda coverage: the slot list holds every slot defined in the engine") {
  // Every definition reads `<name>_kernel{"<name>", &<name>_cpu}` (core/dispatch.h).
  const std::filesystem::path engine =
      std::filesystem::path(FOVEA_TEST_FIXTURES).parent_path().parent_path() / "engine";
  const std::regex definition(R"re([a-z0-9_]+_kernel\{\s*"([a-z0-9_]+)")re");
  std::set<std::string> defined;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(engine)) {
    if (entry.path().extension() != ".cpp") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string source = text.str();
    for (std::sregex_iterator it(source.begin(), source.end(), definition), end; it != end; ++it)
      defined.insert((*it)[1].str());
  }
  std::set<std::string> listed;
  for (const KernelSlotBase* slot : all_kernel_slots()) listed.insert(slot->name());
  CHECK(defined.size() >= 40);
  CHECK(listed == defined);
}
