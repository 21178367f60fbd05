// This backend's entry (engine/core/cuda_backend.h): installing it fills the CUDA allocator slot
// and the CUDA entry of each kernel slot, one explicit call per kernel family (a static
// initialiser in a static library could be dropped by the linker).
#include <string>

#include "engine/core/cuda_backend.h"
#include "engine/core/storage.h"
#include "cuda/kcompat.cuh"

FOVEA_CUDA_BEGIN

bool device_available(std::string* why);
std::string device_name();
size_t bytes_in_use();
size_t bytes_cached();
size_t bytes_available();
void empty_cache();
void synchronize();
void* device_allocate(size_t nbytes, int device_index);
void device_release(void* p, size_t nbytes);

void register_binary();
void register_conv();
void register_copy();
void register_dropout();
void register_index();
void register_gemm();
void register_loss();
void register_norm();
void register_optim();
void register_pool();
void register_reduce();
void register_softmax();
void register_unary();

namespace {

void install() {
  DeviceAllocator& slot = cuda_allocator_slot();
  slot.allocate = &device_allocate;
  slot.release = &device_release;
  register_binary();
  register_conv();
  register_copy();
  register_dropout();
  register_index();
  register_gemm();
  register_loss();
  register_norm();
  register_optim();
  register_pool();
  register_reduce();
  register_softmax();
  register_unary();
}

#if FOVEA_CUDA_EMULATED
void set_schedule(CudaSchedule schedule, uint64_t seed) {
  using ::fovea::cuemu::impl::Order;
  const Order order = schedule == CudaSchedule::Forward   ? Order::Forward
                      : schedule == CudaSchedule::Reverse ? Order::Reverse
                                                          : Order::Shuffle;
  ::fovea::cuemu::impl::set_schedule(order, seed);
}
constexpr auto kSetSchedule = &set_schedule;
#else
constexpr void (*kSetSchedule)(CudaSchedule, uint64_t) = nullptr;
#endif

}  // namespace

const CudaBackend& backend() {
  static const CudaBackend b{FOVEA_CUDA_EMULATED ? "emu" : "gpu", &device_available,
                             &device_name, &install, &bytes_in_use, &bytes_cached, &bytes_available,
                             &empty_cache,
                             &synchronize, kSetSchedule};
  return b;
}

FOVEA_CUDA_END
