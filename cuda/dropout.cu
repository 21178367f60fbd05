// CUDA twin of dropout_mask (engine/cpu/dropout.h): the same Philox bits as the CPU kernel
// (engine/kernels/philox.h), one thread per element, so a seeded generator gives the same mask
// on both devices. The key is drawn on the host, once per call.
#include "engine/cpu/dropout.h"
#include "engine/kernels/philox.h"
#include "cuda/kcompat.cuh"
#include "cuda/check.cuh"
#include "cuda/device.cuh"
#include "cuda/elementwise.cuh"

FOVEA_CUDA_BEGIN

namespace {

struct MaskBody {
  float* mask;
  uint64_t key, threshold;
  float keep;
  __device__ void operator()(const int64_t (&off)[1]) const {
    mask[off[0]] = philox::bits(key, uint64_t(off[0])) < threshold ? 0.f : keep;
  }
};

}  // namespace

void dropout_mask_cuda(const Tensor& mask, double p, Generator& gen) {
  require_float32(mask, "dropout");
  const float keep = float(philox::keep_scale(p));
  const uint64_t key = gen.next_u64();
  launch_elementwise<1>("dropout", {mask.numel()}, {Shape{1}},
                        MaskBody{mask.device_data<float>(), key, philox::drop_threshold(p), keep});
}

void register_dropout() { dropout_mask_kernel.set_cuda(&dropout_mask_cuda); }

FOVEA_CUDA_END
