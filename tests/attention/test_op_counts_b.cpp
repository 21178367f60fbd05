// Hand-counted op counts of one eval-mode float64 forward of FcaNet, Triplet Attention, MS-CAM,
// AFF, iAFF, GSA, BA2M, the three External Attention forms, SAGAN, MHSA (plain and block) and
// SCA-CNN. Each expected count is written from the module's equations (attention-spec §11-§19
// and the module's header), one commented term per op, so every term can be checked by hand and
// a module that does extra or missing work fails here.
//
// Counting rules (engine/ops/mac_count.h):
//   macs              matmul [..., m, k] x [..., k, n]: batch * m * n * k; linear: rows * out *
//                     in; conv: N * Cout * OH * OW * (Cin / groups) * KH * KW (bias adds: none)
//   softmax_elements  softmax / log_softmax: the input's numel
//   reduce_reads      max / avg_pool2d: output numel * KH * KW; adaptive pools: N * C * (sum of
//                     the bins' heights) * (sum of their widths); sum, mean, amax, max, var,
//                     norm, ...: the input's numel
//   not counted       element-wise ops, views / copies / cat / index_select, batch / group /
//                     layer norm kernels, backward passes
// Every case uses N = 2 and, for maps, C = 16 on a 6 x 5 map (non-square: an H / W swap shows).
#include <doctest/doctest.h>

#include "attention/aff.h"
#include "attention/ba2m.h"
#include "attention/external_attention.h"
#include "attention/fcanet.h"
#include "attention/gsa.h"
#include "attention/mhsa.h"
#include "attention/sagan.h"
#include "attention/sca.h"
#include "attention/triplet.h"
#include "engine/fovea.h"
#include "support/op_counts.h"

using namespace fovea;
using namespace fovea::attention;

TEST_CASE("op counts: FcaNet MultiSpectralAttentionLayer (a 6x5 map pooled up to a 7x7 DCT)") {
  const int64_t n = 2, c = 16, h = 6, w = 5, dct = 7, r = 4, hidden = c / r;
  FcaOptions o;
  o.reduction = r;
  o.freq_sel_method = "top16";
  auto m = std::make_shared<MultiSpectralAttentionLayer>(c, dct, dct, o);
  // The adaptive bins [floor(o in / out), ceil((o + 1) in / out)), o = 0..6:
  //   H 6 -> 7: [0,1) [0,2) [1,3) [2,4) [3,5) [4,6) [5,6)
  //   W 5 -> 7: [0,1) [0,2) [1,3) [2,3) [2,4) [3,5) [4,5)
  const int64_t bins_h = 1 + 2 + 2 + 2 + 2 + 2 + 1, bins_w = 1 + 2 + 2 + 1 + 2 + 2 + 1;
  const auto [ops, y] = test::count_forward(*m, {n, c, h, w});
  CHECK(y.shape() == Shape{n, c, h, w});
  CHECK(ops.macs ==
        n * hidden * c      // fc.0: Linear C -> C/r on f [N, C]
        + n * c * hidden);  // fc.2: Linear C/r -> C
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads ==
        n * c * bins_h * bins_w  // Xp = adaptive_avg_pool2d(X, 7x7), [N, C, 6, 5] -> 7x7
        + n * c * dct * dct);    // f = sum over (i, j) of Xp * B, [N, C, 7, 7]
}

TEST_CASE("op counts: Triplet Attention (all three gates)") {
  const int64_t n = 2, c = 16, h = 6, w = 5, k = 7;
  TripletOptions o;
  o.no_spatial = false;
  o.zero_spatial_gamma = false;
  auto m = std::make_shared<TripletAttention>(c, o);
  const auto [ops, y] = test::count_forward(*m, {n, c, h, w});
  CHECK(y.shape() == Shape{n, c, h, w});
  CHECK(ops.macs ==
        n * 1 * c * w * 2 * k * k    // C-W gate: conv 7x7 2 -> 1 over the (C, W) plane
        + n * 1 * h * c * 2 * k * k  // H-C gate: conv 7x7 2 -> 1 over the (H, C) plane
        + n * 1 * h * w * 2 * k * k);  // H-W gate: conv 7x7 2 -> 1 over the (H, W) plane
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads ==
        n * c * h * w      // C-W ZPool: max over H of X [N, C, H, W]
        + n * c * h * w    // C-W ZPool: mean over H
        + n * c * h * w    // H-C ZPool: max over W
        + n * c * h * w    // H-C ZPool: mean over W
        + n * c * h * w    // H-W ZPool: max over C
        + n * c * h * w);  // H-W ZPool: mean over C
}

TEST_CASE("op counts: MS-CAM") {
  const int64_t n = 2, c = 16, h = 6, w = 5, r = 4, inter = c / r;
  AFFOptions o;
  o.r = r;
  auto m = std::make_shared<MSCAM>(c, o);
  const auto [ops, y] = test::count_forward(*m, {n, c, h, w});
  CHECK(y.shape() == Shape{n, c, h, w});
  CHECK(ops.macs ==
        n * inter * h * w * c    // L: conv1x1 C -> C/r on X [N, C, H, W]
        + n * c * h * w * inter  // L: conv1x1 C/r -> C
        + n * inter * 1 * 1 * c  // G: conv1x1 C -> C/r on GAP(X) [N, C, 1, 1]
        + n * c * 1 * 1 * inter);  // G: conv1x1 C/r -> C
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads == n * c * h * w);  // G: GAP, adaptive_avg_pool2d(1)
}

TEST_CASE("op counts: AFF through fuse_call") {
  const int64_t n = 2, c = 16, h = 6, w = 5, r = 4, inter = c / r;
  AFFOptions o;
  o.r = r;
  auto m = std::make_shared<AFF>(c, o);
  const Tensor identity = randn({n, c, h, w}, DType::Float64);
  const auto [ops, y] = test::count_forward(*m, {n, c, h, w}, [&](nn::Module&, const Tensor& x) {
    return m->fuse_call(x, identity);
  });
  CHECK(y.shape() == Shape{n, c, h, w});
  // W = M(x + y), one MS-CAM; Z = 2 x W + 2 y (1 - W) is element-wise.
  CHECK(ops.macs ==
        n * inter * h * w * c    // L: conv1x1 C -> C/r on x + y
        + n * c * h * w * inter  // L: conv1x1 C/r -> C
        + n * inter * 1 * 1 * c  // G: conv1x1 C -> C/r on GAP(x + y)
        + n * c * 1 * 1 * inter);  // G: conv1x1 C/r -> C
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads == n * c * h * w);  // G: GAP of x + y
}

TEST_CASE("op counts: iAFF through fuse_call") {
  const int64_t n = 2, c = 16, h = 6, w = 5, r = 4, inter = c / r;
  AFFOptions o;
  o.r = r;
  auto m = std::make_shared<IAFF>(c, o);
  const Tensor identity = randn({n, c, h, w}, DType::Float64);
  const auto [ops, y] = test::count_forward(*m, {n, c, h, w}, [&](nn::Module&, const Tensor& x) {
    return m->fuse_call(x, identity);
  });
  CHECK(y.shape() == Shape{n, c, h, w});
  // W1 = M1(x + y), W2 = M2(Xi): two MS-CAMs with their own weights; the mixes are
  // element-wise.
  CHECK(ops.macs ==
        n * inter * h * w * c    // M1 L: conv1x1 C -> C/r on x + y
        + n * c * h * w * inter  // M1 L: conv1x1 C/r -> C
        + n * inter * 1 * 1 * c  // M1 G: conv1x1 C -> C/r on GAP(x + y)
        + n * c * 1 * 1 * inter  // M1 G: conv1x1 C/r -> C
        + n * inter * h * w * c  // M2 L: conv1x1 C -> C/r on Xi
        + n * c * h * w * inter  // M2 L: conv1x1 C/r -> C
        + n * inter * 1 * 1 * c  // M2 G: conv1x1 C -> C/r on GAP(Xi)
        + n * c * 1 * 1 * inter);  // M2 G: conv1x1 C/r -> C
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads ==
        n * c * h * w      // M1 G: GAP of x + y
        + n * c * h * w);  // M2 G: GAP of Xi
}

TEST_CASE("op counts: GSA with a masked positional branch (rel_pos_length 3 below H and W)") {
  const int64_t n = 2, c = 16, h = 6, w = 5, hw = h * w, heads = 2, d = 4;
  GSAOptions o;
  o.heads = heads;
  o.dim_key = d;
  o.rel_pos_length = 3;  // offsets |i - x| > 2 read the appended zero row (the mask)
  o.norm_queries = false;
  o.batch_norm = true;
  auto m = std::make_shared<GSA>(c, /*dim_out=*/c, /*stride=*/1, o);
  const auto [ops, y] = test::count_forward(*m, {n, c, h, w});
  CHECK(y.shape() == Shape{n, c, h, w});
  // The axial passes sum over every i (the equations' r = 0 beyond L - 1 is a zero row of P,
  // multiplied like the others), so the count does not depend on rel_pos_length. BN: not
  // counted.
  CHECK(ops.macs ==
        n * (3 * heads * d) * hw * c  // to_qkv: conv1x1 C -> 3 h d
        + n * heads * d * d * hw      // content: C = K V^T, [d, HW] x [HW, d]
        + n * heads * d * hw * d      // content: Oc = C^T Q, [d, d] x [d, HW]
        + n * heads * h * w * h * d   // height: Sx[i, x, y] = q[:, x, y] . P_row[x, i]
        + n * heads * w * h * d * h   // height: Yh[e, x, y] = sum_i Sx[i, x, y] v[e, i, y]
        + n * heads * w * h * w * d   // width: Sy[i, x, y] = q[:, x, y] . P_col[y, i]
        + n * heads * h * w * d * w   // width: Op[e, x, y] = sum_i Sy[i, x, y] Yh[e, x, i]
        + n * c * hw * (heads * d));  // to_out: conv1x1 h d -> C
  CHECK(ops.softmax_elements == n * heads * d * hw);  // K: softmax of k over HW
  CHECK(ops.reduce_reads == 0);
}

TEST_CASE("op counts: BA2M in eval mode with eval_policy identity (the default) computes nothing") {
  const int64_t n = 2, c = 16, h = 6, w = 5;
  BA2MOptions o;
  o.parts = {"channel", "local", "global"};
  o.r = 4;
  o.dilation = 2;
  o.dilated_convs = 2;
  o.global_transform = "mlp";
  o.activation = "sigmoid";
  o.temperature = 1.0;
  o.reweight = "n_times_w";
  o.eval_policy = "identity";  // the default: Y = X in eval (w = 1 / N, f = 1)
  auto m = std::make_shared<BA2M>(c, o);
  // Maps are not recorded, so no sub-map, score or batch softmax runs.
  const auto [ops, y] = test::count_forward(*m, {n, c, h, w});
  CHECK(y.shape() == Shape{n, c, h, w});
  CHECK(ops.macs == 0);
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads == 0);
}

TEST_CASE("op counts: External Attention token form on [N, L, D]") {
  const int64_t n = 2, l = 30, d = 16, s = 8;
  ExternalAttentionOptions o;
  o.S = s;
  o.eps = 0;
  auto m = std::make_shared<ExternalAttention>(d, o);
  const auto [ops, y] = test::count_forward(*m, {n, l, d});
  CHECK(y.shape() == Shape{n, l, d});
  CHECK(ops.macs ==
        n * l * s * d      // F mk^T: Linear d -> S on [N, L, d]
        + n * l * d * s);  // A mv^T: Linear S -> d on [N, L, S]
  CHECK(ops.softmax_elements == n * l * s);  // softmax over L of [N, L, S]
  CHECK(ops.reduce_reads == n * l * s);      // L1 norm: sum over S of [N, L, S]
}

TEST_CASE("op counts: External Attention vision block") {
  const int64_t n = 2, c = 16, h = 6, w = 5, hw = h * w, k = 8;
  auto m = std::make_shared<ExternalAttentionBlock>(c, k);
  const auto [ops, y] = test::count_forward(*m, {n, c, h, w});
  CHECK(y.shape() == Shape{n, c, h, w});
  CHECK(ops.macs ==
        n * c * hw * c    // conv1: conv1x1 C -> C
        + n * k * hw * c  // linear_0: Conv1d C -> k (kernel 1) on [N, C, HW]
        + n * c * hw * k  // linear_1: Conv1d k -> C (kernel 1) on [N, k, HW]
        + n * c * hw * c);  // conv2: conv1x1 C -> C (its BN: not counted)
  CHECK(ops.softmax_elements == n * k * hw);  // softmax over HW of [N, k, HW]
  CHECK(ops.reduce_reads == n * k * hw);      // L1 norm: sum over k of [N, k, HW]
}

TEST_CASE("op counts: MultiHeadExternalAttention on [N, L, D]") {
  const int64_t n = 2, l = 30, d = 16, num_heads = 2, coef = 2;
  // H' = coef num_heads heads of width D' = D / num_heads; k = 256 / coef memory units.
  const int64_t heads = coef * num_heads, head_dim = d / num_heads, k = 256 / coef;
  MultiHeadExternalAttentionOptions o;
  o.num_heads = num_heads;
  o.coef = coef;
  o.attn_drop = 0;
  o.proj_drop = 0;
  auto m = std::make_shared<MultiHeadExternalAttention>(d, o);
  const auto [ops, y] = test::count_forward(*m, {n, l, d});
  CHECK(y.shape() == Shape{n, l, d});
  CHECK(ops.macs ==
        n * l * (coef * d) * d          // trans_dims: Linear D -> coef D on [N, L, D]
        + n * heads * l * k * head_dim  // linear_0: Linear D' -> k on [N, H', L, D']
        + n * heads * l * head_dim * k  // linear_1: Linear k -> D' on [N, H', L, k]
        + n * l * d * (coef * d));      // proj: Linear coef D -> D
  CHECK(ops.softmax_elements == n * heads * l * k);  // over L of [N, H', L, k]
  CHECK(ops.reduce_reads == n * heads * l * k);  // L1 norm: sum over k
}

TEST_CASE("op counts: SAGAN heykeetae") {
  const int64_t n = 2, c = 16, h = 6, w = 5, hw = h * w, c8 = c / 8;
  SAGANOptions o;
  o.variant = SAGANVariant::Heykeetae;
  auto m = std::make_shared<SAGAN>(c, o);
  // gamma = 0 at init gives Y = X, but the attention runs all the same.
  const auto [ops, y] = test::count_forward(*m, {n, c, h, w});
  CHECK(y.shape() == Shape{n, c, h, w});
  CHECK(ops.macs ==
        n * c8 * hw * c     // Q: query_conv, conv1x1 C -> C/8
        + n * c8 * hw * c   // K: key_conv, conv1x1 C -> C/8
        + n * c * hw * c    // V: value_conv, conv1x1 C -> C
        + n * hw * hw * c8  // E = Q^T K, [HW, C/8] x [C/8, HW]
        + n * hw * c * hw);  // O^T = A V^T, [HW, HW] x [HW, C]
  CHECK(ops.softmax_elements == n * hw * hw);  // A: softmax over j of [N, HW, HW]
  CHECK(ops.reduce_reads == 0);
}

namespace {

// MHSA with `heads` heads, no qkv bias, no positional embedding and no dropout; `block`: the
// pre-norm block form, else the plain one.
MHSAOptions mhsa_options(int64_t heads, bool block) {
  MHSAOptions o;
  o.heads = heads;
  o.qkv_bias = false;
  o.block = block;
  o.pos_embed = false;
  o.attn_drop = 0;
  o.proj_drop = 0;
  return o;
}

}  // namespace

TEST_CASE("op counts: MHSA plain") {
  const int64_t n = 2, c = 16, h = 6, w = 5, l = h * w, heads = 2, hd = c / heads;
  auto m = std::make_shared<MHSA>(c, h, w, mhsa_options(heads, false));
  const auto [ops, y] = test::count_forward(*m, {n, c, h, w});
  CHECK(y.shape() == Shape{n, c, h, w});
  CHECK(ops.macs ==
        n * l * (3 * c) * c      // qkv: Linear D -> 3D on T [N, L, D]
        + n * heads * l * l * hd  // S = (Q scale) K^T, [L, hd] x [hd, L] per head
        + n * heads * l * hd * l  // O = P V, [L, L] x [L, hd] per head
        + n * l * c * c);         // proj: Linear D -> D
  CHECK(ops.softmax_elements == n * heads * l * l);  // P: softmax of [N, h, L, L]
  CHECK(ops.reduce_reads == 0);
}

TEST_CASE("op counts: MHSA pre-norm block") {
  const int64_t n = 2, c = 16, h = 6, w = 5, l = h * w, heads = 2, hd = c / heads;
  auto m = std::make_shared<MHSA>(c, h, w, mhsa_options(heads, true));
  const auto [ops, y] = test::count_forward(*m, {n, c, h, w});
  CHECK(y.shape() == Shape{n, c, h, w});
  // LN1 and LN2 are layer_norm kernels and GELU is element-wise: not counted.
  CHECK(ops.macs ==
        n * l * (3 * c) * c       // attn.qkv: Linear D -> 3D on LN1(T)
        + n * heads * l * l * hd  // S = (Q scale) K^T
        + n * heads * l * hd * l  // O = P V
        + n * l * c * c           // attn.proj: Linear D -> D
        + n * l * (4 * c) * c     // mlp.fc1: Linear D -> 4D on LN2(T)
        + n * l * c * (4 * c));   // mlp.fc2: Linear 4D -> D
  CHECK(ops.softmax_elements == n * heads * l * l);  // P: softmax of [N, h, L, L]
  CHECK(ops.reduce_reads == 0);
}

TEST_CASE("op counts: SCA-CNN with a given context through attend_call (order cs)") {
  const int64_t n = 2, c = 16, h = 6, w = 5, hw = h * w, k = 12, dh = 10;
  SCAOptions o;
  o.order = "cs";
  o.k = k;
  o.context_dim = dh;
  o.query = "given";
  o.rescale = true;
  auto m = std::make_shared<SCA>(c, o);
  const Tensor context = randn({n, dh}, DType::Float64);
  const auto [ops, y] = test::count_forward(*m, {n, c, h, w}, [&](nn::Module&, const Tensor& x) {
    return m->attend_call(x, context);
  });
  CHECK(y.shape() == Shape{n, c, h, w});
  CHECK(ops.macs ==
        n * k * dh        // channel: h W_hc, [N, d] x [d, k]
        + n * c * k       // channel: B u_c, [N, C, k] x [k, 1]
        + n * k * hw * c  // spatial: W_s^T V', [k, C] x [N, C, HW]
        + n * k * dh      // spatial: h W_hs, [N, d] x [d, k]
        + n * hw * k);    // spatial: u_s^T A, [1, k] x [N, k, HW]
  CHECK(ops.softmax_elements ==
        n * c      // beta: softmax over C of [N, C]
        + n * hw);  // alpha: softmax over HW of [N, HW]
  CHECK(ops.reduce_reads == n * c * hw);  // channel: vbar = mean over H, W of V
}
