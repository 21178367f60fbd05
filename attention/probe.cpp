#include "attention/probe.h"

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <vector>

#include "attention/register.h"
#include "engine/autograd/dot.h"
#include "engine/core/cpu_allocator.h"
#include "engine/fovea.h"
#include "layers/attention_slot.h"
#include "layers/summary.h"

extern char** environ;  // posix_spawn passes the environment on

namespace fovea::probe {

namespace {

const char* position_name(nn::AttentionPosition p) {
  switch (p) {
    case nn::AttentionPosition::AfterLastNorm: return "after the block's last BN";
    case nn::AttentionPosition::AfterFirstConv: return "after the block's first conv";
    case nn::AttentionPosition::ReplaceSecondConv: return "replaces the block's 3x3 conv";
    case nn::AttentionPosition::ReplaceAdd: return "replaces the residual sum";
    case nn::AttentionPosition::StageEnd: return "after each stage but the last";
  }
  return "?";
}

// The built-in modules that replace the block's 3x3 conv, e.g. "sk, sk_xmu".
std::string conv_replacing_modules() {
  std::ostringstream os;
  for (const auto& name : attention::builtin_names())
    if (nn::parse_attention(name).spec->position == nn::AttentionPosition::ReplaceSecondConv)
      os << (os.tellp() > 0 ? ", " : "") << name;
  return os.str();
}

// The module, built for the input's channels and spatial size.
std::shared_ptr<nn::Module> build(const Request& r, const Tensor& input) {
  attention::register_all();
  const nn::ParsedAttention a =
      nn::parse_attention(r.module + (r.options.empty() ? "" : ":" + r.options));
  FOVEA_CHECK(a.spec != nullptr, "attention_probe: --module none has nothing to probe");
  FOVEA_CHECK(input.dim() == 4 || input.dim() == 3,
              "attention_probe: input must be [N, C, H, W] (or tokens [N, L, D]), got ",
              input.str());
  const bool tokens = input.dim() == 3;
  const bool replaces_conv = a.spec->position == nn::AttentionPosition::ReplaceSecondConv;
  FOVEA_CHECK(replaces_conv || (r.stride == 1 && r.out_channels == 0),
              "attention_probe: --stride and --out-channels apply to modules that replace the "
              "block's 3x3 conv (", conv_replacing_modules(), "), not to \"", r.module, "\"");
  FOVEA_CHECK(r.stride >= 1, "attention_probe: stride ", r.stride, " must be >= 1");
  FOVEA_CHECK(r.out_channels >= 0, "attention_probe: out_channels ", r.out_channels,
              " must be >= 1 (0: the input's)");
  nn::AttentionContext c;
  c.channels = c.in_channels = input.size(tokens ? 2 : 1);
  c.out_channels = r.out_channels > 0 ? r.out_channels : c.channels;
  c.stride = r.stride;
  c.height = input.size(tokens ? 1 : 2);
  c.width = tokens ? 1 : input.size(3);
  c.options = a.options;
  std::shared_ptr<nn::Module> m = a.spec->make(c);
  m->to(r.dtype);
  m->train(r.train);
  nn::set_map_recording(*m, true);
  return m;
}

// The second input a module takes besides "input": "input2" for a fusion module, "context" for
// a conditioned one that needs it, "" for the others.
std::string second_input(const nn::Module& m) {
  if (dynamic_cast<const nn::FusionModule*>(&m)) return "input2";
  if (auto* conditioned = dynamic_cast<const nn::ContextModule*>(&m))
    return conditioned->needs_context() ? "context" : "";
  return "";
}

// Every key of `in` must be an input or one of the module's tensors.
void check_keys(const io::SafetensorsFile& in, const nn::StateDict& state,
                const std::string& second, const std::string& module) {
  std::set<std::string> known{"input", "grad_output"};
  if (!second.empty()) known.insert(second);
  for (const auto& key : state.keys()) known.insert(key);
  for (const auto& [key, value] : in.tensors) {
    if (known.count(key)) continue;
    std::ostringstream valid;
    for (const auto& k : known) valid << (k == *known.begin() ? "" : ", ") << k;
    FOVEA_FAIL("attention_probe: unknown key \"", key, "\" in the input file (valid: ",
               valid.str(), ")");
  }
  FOVEA_CHECK(in.contains("input"), "attention_probe: the input file has no \"input\"");
  FOVEA_CHECK(in.contains("grad_output"), "attention_probe: the input file has no \"grad_output\"");
  FOVEA_CHECK(second.empty() || in.contains(second), "attention_probe: ", module, " takes a second ",
              "input, \"", second, "\", and the input file has none");
}

// The module's forward on the file's inputs; `second` (a new leaf) is the second input, if any.
Tensor forward(nn::Module& m, const Tensor& x, const Tensor& second) {
  if (auto* fusion = dynamic_cast<nn::FusionModule*>(&m)) return fusion->fuse_call(x, second);
  auto* conditioned = dynamic_cast<nn::ContextModule*>(&m);
  if (conditioned && second.defined()) return conditioned->attend_call(x, second);
  return m(x);
}

}  // namespace

io::NamedTensors run(const Request& r, const io::SafetensorsFile& in, std::string* graph,
                     Costs* costs) {
  FOVEA_CHECK(in.contains("input"), "attention_probe: the input file has no \"input\"");
  Tensor x = in.at("input").to(r.dtype).detach();  // a new leaf: the caller's tensor stays as is
  x.set_requires_grad();
  std::shared_ptr<nn::Module> m = build(r, x);
  const nn::StateDict state = m->state_dict();
  const std::string second_name = second_input(*m);
  check_keys(in, state, second_name, r.module);
  Tensor second;
  if (!second_name.empty()) {
    second = in.at(second_name).to(r.dtype).detach();
    second.set_requires_grad();
  }
  nn::StateDict given;
  for (const auto& [key, value] : in.tensors) {
    if (!state.contains(key)) continue;
    const DType want = state.at(key).dtype();  // a float64 file feeds a float32 run too
    given.insert(key, value.dtype() == DType::Int64 ? value : value.to(want));
  }
  m->load_state_dict(given, /*strict=*/false);  // shape mismatches name the key

  if (graph) {  // the leaves of the graph picture, by the names a reader knows them by
    x.set_name("input");
    if (second.defined()) second.set_name(second_name);
    for (const auto& [name, p] : m->named_parameters()) Tensor(p).set_name(name);
  }
  const Tensor g = in.at("grad_output");
  const size_t live_before = cpu_allocator().stats().live_bytes;
  cpu_allocator().reset_peak();
  Tensor y;
  {
    MacCounter counter;
    y = forward(*m, x, second);
    if (costs) costs->forward = counter.counts();
  }
  if (graph) *graph = graph_to_dot(y);
  FOVEA_CHECK(g.shape() == y.shape(), "attention_probe: grad_output is ", g.str(),
              " but the output is ", y.str());
  y.backward(g.to(y.dtype()));
  if (costs) costs->peak_bytes = cpu_allocator().stats().peak_live_bytes - live_before;

  io::NamedTensors out{{"output", y.detach()}, {"grad.input", x.grad()}};
  if (second.defined())
    out.emplace_back("grad." + second_name,
                     second.grad().defined() ? second.grad() : zeros_like(second));
  for (const auto& [name, p] : m->named_parameters())
    out.emplace_back("grad." + name, p.grad().defined() ? p.grad() : zeros_like(p));
  for (const auto& [name, b] : m->named_buffers()) out.emplace_back("after." + name, b);
  for (const auto& [name, map] : nn::attention_maps(*m)) out.emplace_back("map." + name, map);
  return out;
}

std::string costs_line(const Costs& c) {
  using nn::with_commas;
  char peak[32];
  std::snprintf(peak, sizeof peak, "%.1f KiB", double(c.peak_bytes) / 1024);
  return "forward: " + with_commas(c.forward.macs) + " MACs, " +
         with_commas(c.forward.softmax_elements) + " softmax elements, " +
         with_commas(c.forward.reduce_reads) +
         " elements read by poolings and reductions; forward + backward: " + peak +
         " of tensors at the peak";
}

std::map<std::string, std::string> metadata_of(const Request& r) {
  std::map<std::string, std::string> m{
      {"module", r.module}, {"options", r.options}, {"mode", r.train ? "train" : "eval"}};
  if (r.stride != 1) m["stride"] = std::to_string(r.stride);
  if (r.out_channels != 0) m["out_channels"] = std::to_string(r.out_channels);
  return m;
}

Request request_of(const std::map<std::string, std::string>& metadata) {
  auto at = [&](const std::string& key) -> const std::string& {
    auto it = metadata.find(key);
    FOVEA_CHECK(it != metadata.end(), "attention_probe: the file's metadata has no \"", key, "\"");
    return it->second;
  };
  Request r;
  r.module = at("module");
  r.options = at("options");
  r.train = at("mode") == "train";
  if (metadata.count("stride")) r.stride = std::stoll(metadata.at("stride"));
  if (metadata.count("out_channels")) r.out_channels = std::stoll(metadata.at("out_channels"));
  return r;
}

std::string list_modules() {
  attention::register_all();
  std::ostringstream os;
  for (const auto& name : nn::attention_names()) {
    if (name == "none") continue;
    const nn::AttentionSpec* s = nn::find_attention(name);
    os << name << ": " << s->help << "\n    position: " << position_name(s->position)
       << ", name in a block: " << s->child_name << "\n";
    for (const auto& o : s->options)
      os << "    " << o.name << "=" << o.default_value << "  " << o.help << "\n";
  }
  return os.str();
}

namespace {

// `program` found in a directory of PATH (an executable file), or "".
std::string on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    struct stat info {};
    if (stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return "";
}

// Runs `argv` (no shell: paths with spaces or quotes stay one argument); "" when it exits with
// status 0, else how it ended ("exit status 3", "killed by signal 9").
std::string run_program(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ);
  FOVEA_CHECK(spawned == 0, "attention_probe: cannot run ", argv[0], ": ", std::strerror(spawned));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    FOVEA_CHECK(errno == EINTR, "attention_probe: waiting for ", argv[0], ": ",
                std::strerror(errno));
  if (WIFEXITED(status))
    return WEXITSTATUS(status) == 0 ? "" : "exit status " + std::to_string(WEXITSTATUS(status));
  return "killed by signal " + std::to_string(WTERMSIG(status));
}

}  // namespace

std::string render_graph(const std::string& dot_path) {
  const std::string dot = on_path("dot");
  if (dot.empty())
    return "Graphviz's dot is not on PATH (Debian: apt install graphviz), so " + dot_path +
           " was not rendered; `dot -Tsvg " + dot_path + " -o graph.svg` renders it";
  const std::filesystem::path base = std::filesystem::path(dot_path).replace_extension();
  std::string done;
  for (const char* format : {"svg", "png"}) {
    const std::string out = base.string() + "." + format;
    const std::string failure = run_program({dot, std::string("-T") + format, dot_path, "-o", out});
    FOVEA_CHECK(failure.empty(), "attention_probe: `", dot, " -T", format, " ", dot_path, " -o ",
                out, "` failed: ", failure);
    done += (done.empty() ? "rendered " : " and ") + out;
  }
  return done;
}

}  // namespace fovea::probe
