// Parameter initialisers with torch.nn.init semantics (spec §22.8). Each fills `w` in place
// and returns it. Like torch they run without recording (inside a NoGradGuard), so they may be
// called on parameters that already require a gradient; they bump the storage version, so a
// graph that saved `w` refuses to backward afterwards. Values are drawn in float64 on the CPU
// from `gen` (the default generator when null) and then copied into w, whatever its dtype,
// layout or device. A tensor with no elements is left as it is.
//
// Fans of a weight of shape [out, in, k...] (Linear [out, in], ConvNd [out, in/groups, k...]):
//   receptive = prod(k...),  fan_in = in * receptive,  fan_out = out * receptive
//
//   kaiming_uniform_  U(-b, b),  b = gain * sqrt(3 / fan),     gain = calculate_gain(nl, a)
//   kaiming_normal_   N(0, s^2), s = gain / sqrt(fan)          fan = fan_in or fan_out (mode)
//   xavier_uniform_   U(-b, b),  b = gain * sqrt(6 / (fan_in + fan_out))
//   xavier_normal_    N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out))
//   trunc_normal_     N(mean, std^2) conditioned on [a, b] (a, b absolute values, not in
//                     units of std, as in torch: trunc_normal_(w, 0, 0.02) barely truncates)
//   orthogonal_       w viewed as rows = size(0) by cols = numel/rows: Q of the QR of a
//                     N(0, 1) matrix (of its transpose when rows < cols), columns signed so
//                     that diag(R) > 0, times gain. Then W W^T = gain^2 I when rows <= cols,
//                     W^T W = gain^2 I when rows >= cols.
//   constant_         every element = value
//
// The PyTorch default for Linear/Conv weights is kaiming_uniform_(w, sqrt(5)), i.e.
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "engine/core/random.h"
#include "engine/core/tensor.h"

namespace fovea {

enum class FanMode { FanIn, FanOut };

// {fan_in, fan_out}; a shape with fewer than 2 dims is an error.
std::pair<int64_t, int64_t> compute_fans(const Shape& weight_shape);

// linear, conv1d/2d/3d, conv_transpose1d/2d/3d, sigmoid -> 1; tanh -> 5/3; relu -> sqrt(2);
// leaky_relu -> sqrt(2 / (1 + param^2)) (param = negative slope); selu -> 3/4.
// Any other name is an error.
double calculate_gain(const std::string& nonlinearity, double param = 0.01);

Tensor& kaiming_uniform_(Tensor& w, double a = 0, FanMode mode = FanMode::FanIn,
                         const std::string& nonlinearity = "leaky_relu",
                         Generator* gen = nullptr);
Tensor& kaiming_normal_(Tensor& w, double a = 0, FanMode mode = FanMode::FanIn,
                        const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
Tensor& xavier_uniform_(Tensor& w, double gain = 1, Generator* gen = nullptr);
Tensor& xavier_normal_(Tensor& w, double gain = 1, Generator* gen = nullptr);

// Sampling by inverse CDF: u ~ U(Phi(alpha), Phi(beta)), x = mean + std * Phi^-1(u), with
// alpha, beta the standardised bounds. It uses one uniform draw per element (no rejection
// loop, so any interval works) and computes in the lower tail, where Phi and its inverse keep
// full double precision, by mirroring intervals that lie above the mean. Needs std > 0, a < b.
Tensor& trunc_normal_(Tensor& w, double mean = 0, double std = 1, double a = -2, double b = 2,
                      Generator* gen = nullptr);

// Needs at least 2 dims. The QR is a Householder QR in double (no LAPACK).
Tensor& orthogonal_(Tensor& w, double gain = 1, Generator* gen = nullptr);

Tensor& constant_(Tensor& w, double value);

// The orthonormal 2-D DCT-II basis image B_{u,v} of an h x w map, FcaNet's fixed filters
// (spec section 11):
//   B(i, j) = b(i, u, h) b(j, v, w),   b(p, f, L) = cos(pi f (p + 1/2) / L) / sqrt(L) * s(f),
//   s(0) = 1, s(f > 0) = sqrt 2.
// The h*w images for 0 <= u < h, 0 <= v < w are orthonormal; B_{0,0} is 1/sqrt(h w) everywhere.
Tensor dct_basis(int64_t h, int64_t w, int64_t u, int64_t v, DType dtype = DType::Float32);

}  // namespace fovea
