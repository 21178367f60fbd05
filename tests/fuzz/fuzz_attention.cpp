// The --attention option: parse_attention (layers/attention_slot.h) of the input as text. An
// option set that parses is built into its module for 32 channels on 6x6 maps, which then runs
// one forward and backward on a small batch: every option value a user can type either builds a
// working module or is a fovea::Error naming the problem.
#include "attention/register.h"
#include "engine/fovea.h"
#include "fuzz_support.h"
#include "layers/attention_slot.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fovea;
  attention::register_all();
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::accept_or_reject([&] {
    const nn::ParsedAttention parsed = nn::parse_attention(text);
    if (!parsed.spec) return;
    nn::AttentionContext c;
    c.channels = c.in_channels = c.out_channels = 32;
    c.height = c.width = 6;
    c.options = parsed.options;
    const std::shared_ptr<nn::Module> m = parsed.spec->make(c);
    Generator gen(3);
    const Tensor x = randn({2, 32, 6, 6}, DType::Float32, &gen).set_requires_grad();
    Tensor y;
    if (auto* fusion = dynamic_cast<nn::FusionModule*>(m.get()))
      y = fusion->fuse_call(x, randn({2, 32, 6, 6}, DType::Float32, &gen));
    else
      y = (*m)(x);
    sum(y).backward();
  });
  return 0;
}
