// Op counts, by hand, of one eval-mode float64 forward of SE, CBAM, BAM, ECA, SK (SKConv and
// SKAttention), Shuffle Attention, SGE, PSA (paper_parallel and official_s), Coordinate
// Attention and GAM. Each expected count is a sum of products written from the module's
// equations (attention-spec §1-§10 and the module's header), one commented term per op, so that
// every term can be checked by hand and a module doing extra or missing work fails here.
// Counting rules: engine/ops/mac_count.h. In short: macs = matmul batch*m*n*k, linear
// rows*out*in, conv N*Cout*OH*OW*(Cin/groups)*KH*KW (bias adds not counted); softmax_elements =
// the softmax input's numel; reduce_reads = the input's numel for sum / mean / amax / stddev /
// ... and output*KH*KW (or the adaptive bins) for poolings. Element-wise ops, views, copies,
// cat / stack and the batch / group / layer norm kernels count nothing.
#include <doctest/doctest.h>

#include "attention/bam.h"
#include "attention/cbam.h"
#include "attention/coord_attention.h"
#include "attention/eca.h"
#include "attention/gam.h"
#include "attention/psa.h"
#include "attention/se.h"
#include "attention/sge.h"
#include "attention/shuffle_attention.h"
#include "attention/sk.h"
#include "engine/fovea.h"
#include "support/op_counts.h"

using namespace fovea;
using namespace fovea::attention;

TEST_CASE("op counts: SE") {
  constexpr int64_t N = 2, C = 32, H = 6, W = 5, R = 8, Cr = C / R;  // Cr = 4
  SEOptions o;
  o.reduction = R;
  o.bias = false;
  auto m = std::make_shared<SE>(C, o);
  const auto [ops, y] = test::count_forward(*m, {N, C, H, W});
  CHECK(y.shape() == Shape{N, C, H, W});
  CHECK(ops.macs == N * Cr * C      // z = relu(s W1^T): linear [N, C] -> [N, Cr]
                        + N * C * Cr);  // e = sigmoid(z W2^T): linear [N, Cr] -> [N, C]
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads == N * C * H * W);  // s = mean_hw X: [N, C, H, W]
}

TEST_CASE("op counts: CBAM") {
  constexpr int64_t N = 2, C = 32, H = 6, W = 5, R = 8, Cr = C / R;  // Cr = 4
  CBAMOptions o;
  o.reduction_ratio = R;
  o.pool_types = {"avg", "max"};
  o.no_spatial = false;
  auto m = std::make_shared<CBAM>(C, o);
  const auto [ops, y] = test::count_forward(*m, {N, C, H, W});
  CHECK(y.shape() == Shape{N, C, H, W});
  // The shared MLP runs once per pool type (a = sum_p mlp(d_p)), as the equations say.
  CHECK(ops.macs == N * Cr * C                // mlp(d_avg): W1, [N, C] -> [N, Cr]
                        + N * C * Cr          // mlp(d_avg): W2, [N, Cr] -> [N, C]
                        + N * Cr * C          // mlp(d_max): W1
                        + N * C * Cr          // mlp(d_max): W2
                        + N * 1 * H * W * 2 * 7 * 7);  // conv7x7 P [N, 2, H, W] -> 1 ch
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads == N * C * H * W       // d_avg = mean_hw X
                                + N * C * H * W  // d_max = max_hw X
                                + N * C * H * W  // P: max_c X'
                                + N * C * H * W);  // P: mean_c X'
}

TEST_CASE("op counts: BAM") {
  constexpr int64_t N = 2, C = 32, H = 6, W = 5, R = 8, Cr = C / R;  // Cr = 4
  BAMOptions o;
  o.reduction_ratio = R;
  o.num_layers = 1;
  o.dilation_conv_num = 2;
  o.dilation_val = 4;  // padding 4 keeps H x W
  o.combine = "sum";
  auto m = std::make_shared<BAM>(C, o);
  const auto [ops, y] = test::count_forward(*m, {N, C, H, W});
  CHECK(y.shape() == Shape{N, C, H, W});
  CHECK(ops.macs == N * Cr * C                    // channel: fc_0, [N, C] -> [N, Cr]
                        + N * C * Cr              // channel: fc_final, [N, Cr] -> [N, C]
                        + N * Cr * H * W * C      // spatial: conv_reduce0 1x1, C -> Cr
                        + N * Cr * H * W * Cr * 3 * 3  // spatial: conv_di_0 3x3, d 4
                        + N * Cr * H * W * Cr * 3 * 3  // spatial: conv_di_1 3x3, d 4
                        + N * 1 * H * W * Cr);    // spatial: conv_final 1x1, Cr -> 1
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads == N * C * H * W);  // s = mean_hw X
}

TEST_CASE("op counts: ECA") {
  constexpr int64_t N = 2, C = 32, H = 6, W = 5, K = 5;
  ECAOptions o;
  o.k_size = K;  // explicit (the adaptive size would be 3 at C = 32)
  o.gamma = 2;
  o.b = 1;
  auto m = std::make_shared<ECA>(C, o);
  REQUIRE(m->k_size == K);
  const auto [ops, y] = test::count_forward(*m, {N, C, H, W});
  CHECK(y.shape() == Shape{N, C, H, W});
  // z: conv1d 1 -> 1 over [N, 1, C], zero padding (K-1)/2: N * 1 * C outputs * 1 * K taps.
  CHECK(ops.macs == N * 1 * C * 1 * K);
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads == N * C * H * W);  // y = mean_hw X
}

TEST_CASE("op counts: SK SKConv") {
  // Cin != Cout and stride 2 (the strided bottleneck case): H' = ceil(6/2) = 3, W' = ceil(5/2)
  // = 3 for both paths (3x3 pad 1, and 3x3 dilation 2 pad 2).
  constexpr int64_t N = 2, Cin = 16, Cout = 64, H = 6, W = 5, S = 2, G = 8, M = 2;
  constexpr int64_t Ho = 3, Wo = 3, D = 32;  // d = max(Cout / r, L) = max(4, 32)
  SKConvOptions o;
  o.kernels = {{3, 1}, {3, 2}};
  o.groups = G;
  o.r = 16;
  o.L = 32;
  o.fuse_bn = true;
  o.bn_momentum = 0.05;
  auto m = std::make_shared<SKConv>(Cin, Cout, S, o);
  REQUIRE(m->d == D);
  const auto [ops, y] = test::count_forward(*m, {N, Cin, H, W});
  CHECK(y.shape() == Shape{N, Cout, Ho, Wo});
  CHECK(ops.macs == N * Cout * Ho * Wo * (Cin / G) * 3 * 3     // U_1: conv 3x3, d 1
                        + N * Cout * Ho * Wo * (Cin / G) * 3 * 3  // U_2: conv 3x3, d 2
                        + N * D * 1 * 1 * Cout        // fc_reduce 1x1 on s [N, Cout, 1, 1]
                        + N * (M * Cout) * 1 * 1 * D);  // fc_select 1x1, d -> M Cout
  CHECK(ops.softmax_elements == N * M * Cout);  // a = softmax over M of [N, M, Cout]
  // U = U_1 + U_2 is element-wise (not counted); V = sum_i a_i U_i runs as one sum over the
  // path axis of the stacked [N, M, Cout, H', W'] products, so it reads every one of them.
  CHECK(ops.reduce_reads == N * Cout * Ho * Wo           // s = GAP(U)
                                + N * M * Cout * Ho * Wo);  // V = sum_i a_i U_i
}

TEST_CASE("op counts: SK SKAttention") {
  constexpr int64_t N = 2, C = 16, H = 6, W = 5, G = 4, M = 4, D = 32;  // d = max(L, C / 16)
  SKAttentionOptions o;
  o.kernels = {1, 3, 5, 7};
  o.reduction = 16;
  o.group = G;
  o.L = 32;
  auto m = std::make_shared<SKAttention>(C, 1, o);
  REQUIRE(m->d == D);
  const auto [ops, y] = test::count_forward(*m, {N, C, H, W});
  CHECK(y.shape() == Shape{N, C, H, W});
  CHECK(ops.macs == N * C * H * W * (C / G) * 1 * 1    // U_1: conv 1x1, groups G
                        + N * C * H * W * (C / G) * 3 * 3  // U_2: conv 3x3
                        + N * C * H * W * (C / G) * 5 * 5  // U_3: conv 5x5
                        + N * C * H * W * (C / G) * 7 * 7  // U_4: conv 7x7
                        + N * D * C                    // Z = fc(s): linear C -> d
                        + M * (N * C * D));            // logits_i = fcs[i](Z), M heads
  CHECK(ops.softmax_elements == N * M * C);  // a = softmax over M of [N, M, C]
  CHECK(ops.reduce_reads == N * C * H * W          // s = GAP(sum_i U_i)
                                + N * M * C * H * W);  // V = sum_i a_i U_i (as SKConv)
}

TEST_CASE("op counts: Shuffle Attention") {
  constexpr int64_t N = 2, C = 32, H = 6, W = 5, G = 4, Cp = C / (2 * G);  // c' = 4
  ShuffleAttentionOptions o;
  o.groups = G;
  auto m = std::make_shared<ShuffleAttention>(C, o);
  const auto [ops, y] = test::count_forward(*m, {N, C, H, W});
  CHECK(y.shape() == Shape{N, C, H, W});
  // The gates are per-channel affine maps (element-wise), GN(x1) is a norm kernel, the
  // shuffle is a copy: none of them counts.
  CHECK(ops.macs == 0);
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads == (N * G) * Cp * H * W);  // mean_hw x0: [N G, c', H, W]
}

TEST_CASE("op counts: SGE") {
  constexpr int64_t N = 2, C = 32, H = 6, W = 5, G = 4;
  SGEOptions o;
  o.groups = G;
  o.xmu_init = false;
  auto m = std::make_shared<SpatialGroupEnhance>(C, o);
  const auto [ops, y] = test::count_forward(*m, {N, C, H, W});
  CHECK(y.shape() == Shape{N, C, H, W});
  CHECK(ops.macs == 0);
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads == (N * G) * (C / G) * H * W       // g = mean_hw x
                                + (N * G) * (C / G) * H * W  // xn = sum_c (x * g)
                                + (N * G) * H * W            // t - mean_hw t: [NG, HW]
                                + (N * G) * H * W);          // s = std_hw t: [NG, HW]
}

TEST_CASE("op counts: PSA paper_parallel") {
  constexpr int64_t N = 2, C = 32, H = 6, W = 5, Ch = C / 2;  // every branch is C/2 wide
  PSAOptions o;
  o.variant = PSAVariant::PaperParallel;
  auto m = std::make_shared<PolarizedSelfAttention>(C, o);
  const auto [ops, y] = test::count_forward(*m, {N, C, H, W});
  CHECK(y.shape() == Shape{N, C, H, W});
  CHECK(ops.macs == N * Ch * H * W * C        // channel: V = ch_wv(X), 1x1 C -> C/2
                        + N * 1 * H * W * C    // channel: q = ch_wq(X), 1x1 C -> 1
                        + N * Ch * 1 * (H * W)  // channel: z = V q, [C/2, HW] x [HW, 1]
                        + N * C * 1 * 1 * Ch   // channel: w = ch_wz(z), 1x1 C/2 -> C
                        + N * Ch * H * W * C   // spatial: sp_wq(X), 1x1 C -> C/2
                        + N * Ch * H * W * C   // spatial: Vs = sp_wv(X), 1x1 C -> C/2
                        + N * 1 * (H * W) * Ch);  // spatial: zs = softmax(qs) Vs
  CHECK(ops.softmax_elements == N * H * W  // channel: softmax_HW(q), [N, HW, 1]
                                    + N * Ch);  // spatial: softmax_{C/2}(qs), [N, 1, C/2]
  CHECK(ops.reduce_reads == N * Ch * H * W);  // spatial: qs = GAP(sp_wq(X))
}

TEST_CASE("op counts: PSA official_s") {
  constexpr int64_t N = 2, C = 32, H = 6, W = 5, Ch = C / 2, Mid = Ch / 4;  // (C/2) // 4 = 4
  PSAOptions o;
  o.variant = PSAVariant::OfficialS;
  auto m = std::make_shared<PolarizedSelfAttention>(C, o);
  const auto [ops, y] = test::count_forward(*m, {N, C, H, W});
  CHECK(y.shape() == Shape{N, C, H, W});
  // Sequential: the spatial branch runs on X1 = A_ch X, which has X's shape.
  CHECK(ops.macs == N * 1 * H * W * C          // channel: q = conv_q_right(X), C -> 1
                        + N * Ch * H * W * C    // channel: V = conv_v_right(X), C -> C/2
                        + N * Ch * 1 * (H * W)  // channel: z = V q
                        + N * Mid * 1 * 1 * Ch  // channel: conv_up.0, C/2 -> (C/2)//4
                        + N * C * 1 * 1 * Mid   // channel: conv_up.3, (C/2)//4 -> C
                        + N * Ch * H * W * C    // spatial: conv_q_left(X1), C -> C/2
                        + N * Ch * H * W * C    // spatial: Vs = conv_v_left(X1)
                        + N * 1 * (H * W) * Ch);  // spatial: qs softmax_HW(Vs)
  CHECK(ops.softmax_elements == N * H * W          // channel: softmax_HW(q)
                                    + N * Ch * H * W);  // spatial: softmax_HW(Vs) rows
  CHECK(ops.reduce_reads == N * Ch * H * W);  // spatial: qs = GAP(conv_q_left(X1))
}

TEST_CASE("op counts: Coordinate Attention") {
  constexpr int64_t N = 2, C = 32, H = 6, W = 5, Mip = 8;  // mip = max(8, 32 // 32)
  CoordAttOptions o;
  o.reduction = 32;
  auto m = std::make_shared<CoordAtt>(C, C, o);
  REQUIRE(m->mip == Mip);
  const auto [ops, y] = test::count_forward(*m, {N, C, H, W});
  CHECK(y.shape() == Shape{N, C, H, W});
  CHECK(ops.macs == N * Mip * (H + W) * 1 * C  // conv1 1x1 on cat(x_h, x_w)
                        + N * C * H * 1 * Mip   // a_h = sigmoid(conv_h(f_h)), mip -> C
                        + N * C * 1 * W * Mip);  // a_w = sigmoid(conv_w(f_w)), mip -> C
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads == N * C * H * W      // x_h = mean_w X
                                + N * C * H * W);  // x_w = mean_h X
}

TEST_CASE("op counts: GAM") {
  constexpr int64_t N = 2, C = 32, H = 6, W = 5, Cr = C / 4, G = 2;  // C/r = 8
  GAMOptions o;
  o.rate = 4;
  o.channel_sigmoid = true;
  o.spatial_groups = G;  // grouped 7x7 convs (the paper's ResNet-50 setting)
  o.shuffle = "out";     // a copy: not counted
  auto m = std::make_shared<GAM>(C, o);
  const auto [ops, y] = test::count_forward(*m, {N, C, H, W});
  CHECK(y.shape() == Shape{N, C, H, W});
  CHECK(ops.macs == (N * H * W) * Cr * C   // channel MLP W1 per pixel: [NHW, C] -> C/r
                        + (N * H * W) * C * Cr  // channel MLP W2 per pixel: -> C
                        + N * Cr * H * W * (C / G) * 7 * 7  // conv7x7 C -> C/r, groups G
                        + N * C * H * W * (Cr / G) * 7 * 7);  // conv7x7 C/r -> C, groups G
  CHECK(ops.softmax_elements == 0);
  CHECK(ops.reduce_reads == 0);  // no pooling anywhere (the paper's point)
}
