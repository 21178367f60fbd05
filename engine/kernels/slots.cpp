// The list of every kernel slot. The CUDA backends clear and fill these slots when they are
// installed (cuda/backend.cu), and tests/cuda/test_coverage.cpp walks them to report which slots
// have a CUDA twin. A slot defined without a line here is caught by that test, which counts the
// slot definitions in the sources.
#include "engine/core/dispatch.h"
#include "engine/cpu/binary.h"
#include "engine/cpu/conv.h"
#include "engine/cpu/cross_entropy.h"
#include "engine/cpu/dropout.h"
#include "engine/cpu/fill.h"
#include "engine/cpu/gemm.h"
#include "engine/cpu/index.h"
#include "engine/cpu/norm.h"
#include "engine/cpu/pool.h"
#include "engine/cpu/reduce.h"
#include "engine/cpu/softmax.h"
#include "engine/cpu/unary.h"
#include "engine/optim/kernels.h"

namespace fovea {

std::vector<KernelSlotBase*> all_kernel_slots() {
  return {
      &softmax_forward_kernel,
      &binary_forward_kernel,
      &binary_backward_kernel,
      &where_forward_kernel,
      &im2col_kernel,
      &col2im_kernel,
      &conv2d_forward_kernel,
      &conv2d_backward_kernel,
      &cross_entropy_forward_kernel,
      &cross_entropy_backward_kernel,
      &nll_loss_forward_kernel,
      &nll_loss_backward_kernel,
      &dropout_mask_kernel,
      &fill_kernel,
      &copy_kernel,
      &gemm_kernel,
      &index_bounds_kernel,
      &gather_kernel,
      &scatter_add_kernel,
      &batch_norm_forward_kernel,
      &batch_norm_backward_kernel,
      &group_norm_forward_kernel,
      &group_norm_backward_kernel,
      &layer_norm_forward_kernel,
      &layer_norm_backward_kernel,
      &max_pool2d_forward_kernel,
      &max_pool2d_backward_kernel,
      &avg_pool2d_forward_kernel,
      &avg_pool2d_backward_kernel,
      &adaptive_avg_pool2d_forward_kernel,
      &adaptive_avg_pool2d_backward_kernel,
      &adaptive_max_pool2d_forward_kernel,
      &adaptive_max_pool2d_backward_kernel,
      &sum_kernel,
      &extremum_forward_kernel,
      &extremum_backward_kernel,
      &var_forward_kernel,
      &var_backward_kernel,
      &logsumexp_forward_kernel,
      &logsumexp_backward_kernel,
      &norm_forward_kernel,
      &norm_backward_kernel,
      &softmax_backward_kernel,
      &log_softmax_forward_kernel,
      &log_softmax_backward_kernel,
      &unary_forward_kernel,
      &unary_backward_kernel,
      &optim::sgd_step_kernel,
      &optim::adam_step_kernel,
  };
}

}  // namespace fovea
