// The attention slot of the residual blocks: a name -> factory registry that the ResNets ask
// for the module to place at each block (spec §0.11). "none" places nothing.
//
// Where a module sits depends on the module:
//   AfterLastNorm      SE, CBAM, ECA, SA, SGE, FcaNet, Triplet, GAM: on the residual branch after
//                      the block's last BatchNorm, before "+ identity"
//   AfterFirstConv     PSA: after the block's first conv (+ BN + ReLU)
//   ReplaceSecondConv  SK, GSA: instead of the block's 3x3 conv (basic block: its second conv;
//                      bottleneck: its middle, possibly strided, conv)
//   ReplaceAdd         AFF / iAFF: a FusionModule combines (residual branch, identity) instead
//                      of adding them
//   StageEnd           BAM: after every stage but the last
//
// A network names its module with options, "cbam:reduction_ratio=8,pool_types=avg+max+lse": the
// option names are the module's constructor arguments (spec), each declared with its default
// when the module registers, so an unknown option or a bad value is an error listing the valid
// ones. Attention modules register themselves (attention/register.h); a ResNet built with an
// unknown name fails with the list of known names. The modules placed in the slot keep their own
// (reference) init: the ResNet initialises only its trunk.
//
// Maps by name: an AttentionModule records the maps of its last forward (channel weights,
// spatial maps, branch weights, attention matrices) under fixed names, e.g. CBAM's "channel" and
// "spatial", once recording is turned on (set_map_recording). Off, recording is one branch.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "layers/module.h"

namespace fovea::nn {

enum class AttentionPosition { AfterLastNorm, AfterFirstConv, ReplaceSecondConv, ReplaceAdd, StageEnd };

// ---- maps by name ----------------------------------------------------------------------------
class AttentionModule : public Module {
 public:
  using Module::Module;
  void set_recording(bool on);
  bool recording() const { return recording_; }
  // The maps of the last forward while recording, in the order the module records them.
  const std::vector<std::pair<std::string, Tensor>>& maps() const { return maps_; }
  const Tensor& map(const std::string& name) const;  // error naming the module and the name

 protected:
  // x must be [N, channels, H, W]; else an error naming the module and x's shape.
  void check_input(const Tensor& x, int64_t channels) const;
  // channels // r >= 1 (spec §21: the hidden width of an MLP); else an error naming the module,
  // the numbers and `option`, the option r came from.
  void check_reduction(int64_t channels, int64_t r, const char* option = "reduction") const;
  // Keeps a detached copy of `value` under `name` (replacing the last forward's) when recording;
  // does nothing otherwise.
  void record_map(const std::string& name, const Tensor& value);

 private:
  bool recording_ = false;
  std::vector<std::pair<std::string, Tensor>> maps_;
};

// A child that only holds children, for reference names nested deeper than the math needs
// (CBAM's ChannelGate.mlp): registered in `parent` under `name`, printed as `type_name` (default:
// the name).
std::shared_ptr<Module> add_group(Module& parent, const std::string& name,
                                  const std::string& type_name = "");

// Turns recording on or off for every AttentionModule in `root` (root included).
void set_map_recording(Module& root, bool on);
// Every recorded map below `root`, named "<module path>.<map>", e.g. "layer1.0.cbam.spatial".
std::vector<std::pair<std::string, Tensor>> attention_maps(const Module& root);

// A module that combines two tensors of the same shape (ReplaceAdd). Call it through fuse_call
// so forward hooks (summaries, attention-map captures) see it.
class FusionModule : public AttentionModule {
 public:
  using AttentionModule::AttentionModule;
  virtual Tensor fuse(const Tensor& residual, const Tensor& identity) = 0;
  Tensor fuse_call(const Tensor& residual, const Tensor& identity);
};

// A module conditioned on a context vector [N, context_dim()] (SCA-CNN: a captioner's decoder
// state). In a classifier, forward(x) makes its own context (a learned query, or a projection of
// the pooled features); attend_call(x, context) takes one from outside (attention_probe's
// "context"). Call it through attend_call so forward hooks see it.
class ContextModule : public AttentionModule {
 public:
  using AttentionModule::AttentionModule;
  virtual int64_t context_dim() const = 0;
  virtual Tensor attend(const Tensor& x, const Tensor& context) = 0;
  Tensor attend_call(const Tensor& x, const Tensor& context);
  // Whether a caller must pass the context: false where forward(x) makes its own (SCA-CNN's
  // query=learned or pooled), and attention_probe then runs forward(x) on "input" alone.
  virtual bool needs_context() const { return true; }
};

// ---- options -----------------------------------------------------------------------------------
struct AttentionOption {
  std::string name;           // the constructor argument's name in the spec
  std::string default_value;  // as it would be written on the command line
  std::string help;           // one line: what it does and which values it takes
};

// The options given for one module, checked against what it declares. Values are text until a
// typed getter reads them; a getter names the module, the option and the bad value.
class AttentionOptions {
 public:
  AttentionOptions() = default;
  // `text` is "k=v,k=v" (empty: every default). An undeclared or repeated key is an error
  // listing the declared ones.
  AttentionOptions(std::string module, std::vector<AttentionOption> declared,
                   const std::string& text);

  const std::string& module() const { return module_; }
  std::string text(const std::string& name) const;
  int64_t integer(const std::string& name) const;
  // An integer in [lo, hi]; for sizes the module cannot check against the data (a kernel size:
  // 10^5 would allocate gigabytes before any forward could refuse it).
  int64_t integer(const std::string& name, int64_t lo, int64_t hi) const;
  double number(const std::string& name) const;
  bool flag(const std::string& name) const;  // true/false, 1/0
  // One of `allowed`; an error lists them.
  std::string choice(const std::string& name, const std::vector<std::string>& allowed) const;
  // '+'-separated items, each one of `allowed` ("avg+max+lse").
  std::vector<std::string> list(const std::string& name, const std::vector<std::string>& allowed) const;
  // "k=v,..." of the options given explicitly, in declaration order (for names and checkpoints).
  std::string given() const;

 private:
  const std::string& raw(const std::string& name) const;
  [[noreturn]] void bad_value(const std::string& name, const std::string& expected) const;

  std::string module_;
  std::vector<AttentionOption> declared_;
  std::vector<std::pair<std::string, std::string>> given_;  // explicit ones
};

// ---- the slot ----------------------------------------------------------------------------------
struct AttentionContext {
  int64_t channels = 0;      // channels of the tensor the module sees (and must return)
  int64_t in_channels = 0;   // ReplaceSecondConv: the replaced conv's in/out channels and stride
  int64_t out_channels = 0;  // (elsewhere in = out = channels, stride 1)
  int64_t stride = 1;
  int64_t height = 0;        // spatial size of the tensor the module sees; 0: unknown (a network
  int64_t width = 0;         // whose input size is neither given nor fixed by its design)
  int stage = 0;             // 1-based stage of the network
  int block = 0;             // 0-based block within the stage (0 for StageEnd)
  AttentionOptions options;  // the options the network was named with
};

struct AttentionSpec {
  AttentionPosition position = AttentionPosition::AfterLastNorm;
  std::string child_name;  // the module's name inside a block, as the reference code names it
  std::function<std::shared_ptr<Module>(const AttentionContext&)> make;
  std::vector<AttentionOption> options;  // what `make` reads from context.options
  std::string help;                      // one line for --list
};

// Registers (or replaces) `name`. "none" is reserved; a name holds no ':' or ','.
void register_attention(const std::string& name, AttentionSpec spec);
// The spec for `name`, or null for "none"; an unknown name is an error listing the known ones.
const AttentionSpec* find_attention(const std::string& name);
std::vector<std::string> attention_names();  // "none" first, then the registered ones, sorted

// "cbam:reduction_ratio=8" -> the spec of cbam and its checked options (null spec for "none",
// where options are an error).
struct ParsedAttention {
  const AttentionSpec* spec = nullptr;
  AttentionOptions options;
};
ParsedAttention parse_attention(const std::string& name_and_options);

}  // namespace fovea::nn
