// FcaNet (MultiSpectralAttentionLayer): the reference state_dict names, the DCT filter buffer
// (against the PyTorch fixture's and its own structure), the frequency tables and their
// scaling, the slot's DCT-size rules, constraints (spec §21), the map, and float64 gradient
// checks. Outputs and gradients against PyTorch are in test_fixtures.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "attention/fcanet.h"
#include "attention/register.h"
#include "engine/fovea.h"
#include "engine/io/safetensors.h"
#include "layers/resnet.h"
#include "support/module_check.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {

Tensor filters(const MultiSpectralAttentionLayer& m) {
  return m.dct_layer->named_buffers().front().second;
}

// The layer the slot builds for a map of `height` x `width` at `stage` with `options`.
std::shared_ptr<MultiSpectralAttentionLayer> from_slot(int64_t channels, int64_t height,
                                                       int64_t width, const std::string& options,
                                                       int stage = 1) {
  attention::register_all();
  const nn::ParsedAttention a = nn::parse_attention(options.empty() ? "fca" : "fca:" + options);
  nn::AttentionContext c;
  c.channels = c.in_channels = c.out_channels = channels;
  c.height = height;
  c.width = width;
  c.stage = stage;
  c.options = a.options;
  return std::dynamic_pointer_cast<MultiSpectralAttentionLayer>(a.spec->make(c));
}

Shape dct_shape(const std::shared_ptr<MultiSpectralAttentionLayer>& m) {
  return Shape{m->dct_h, m->dct_w};
}

}  // namespace

TEST_CASE("FcaNet: official names, frequency tables and the DCT filter buffer") {
  auto m = std::make_shared<MultiSpectralAttentionLayer>(32, 7, 7);
  CHECK(m->state_dict().keys() ==
        std::vector<std::string>{"dct_layer.weight", "fc.0.weight", "fc.2.weight"});
  CHECK(m->named_parameters().size() == 2);  // the filters are a buffer: not trained
  CHECK(filters(*m).shape() == Shape{32, 7, 7});
  CHECK(m->state_dict().at("fc.0.weight").shape() == Shape{2, 32});
  CHECK(m->state_dict().at("fc.2.weight").shape() == Shape{32, 2});

  // top16 is (0,0),(0,1),(6,0),(0,5),(0,2),(1,0),(1,2),(4,0),(5,0),(1,6),(3,0),(0,4),(0,6),(0,3),
  // (3,5),(2,2) (spec §11); low and bot start (0,0),(0,1) and (6,6),(1,4).
  const auto top = fca_frequencies("top16");
  CHECK(top.first == std::vector<int64_t>{0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2});
  CHECK(top.second == std::vector<int64_t>{0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2});
  CHECK(fca_frequencies("low2").second == std::vector<int64_t>{0, 1});
  CHECK(fca_frequencies("bot2").first == std::vector<int64_t>{6, 1});
  CHECK(fca_frequencies("bot32").second.size() == 32);

  // Channel c uses frequency c / (C / K): 2 channels per frequency here, (6, 0) for c = 4, 5.
  const Tensor f = filters(*m).to(DType::Float64);
  for (int64_t c : {4, 5}) {
    CAPTURE(c);
    CHECK(amax(abs(f.select(0, c) - dct_basis(7, 7, 6, 0, DType::Float64))).item() < 1e-7);
  }
  CHECK(amax(abs(f.select(0, 0) - 1.0 / 7)).item() < 1e-7);  // DC: 1 / sqrt(HW)
  CHECK(amax(abs(sum(f * f, {1, 2}) - 1.0)).item() < 1e-6);  // orthonormal basis images
  // Scaled by dct // 7 (integer division): on 14x14 the second frequency (0, 1) becomes (0, 2),
  // on 15x20 the third (6, 0) becomes (12, 0).
  auto m14 = std::make_shared<MultiSpectralAttentionLayer>(16, 14, 14);
  CHECK(amax(abs(filters(*m14).select(0, 1) - dct_basis(14, 14, 0, 2))).item() == 0.0);
  auto m15 = std::make_shared<MultiSpectralAttentionLayer>(16, 15, 20);
  CHECK(amax(abs(filters(*m15).select(0, 2) - dct_basis(15, 20, 12, 0))).item() == 0.0);
  // Below 7 the official scale is 0: every frequency collapses to DC.
  auto small = std::make_shared<MultiSpectralAttentionLayer>(16, 4, 4);
  CHECK(amax(abs(filters(*small) - 0.25)).item() < 1e-7);
}

TEST_CASE("FcaNet: the DCT buffer equals the reference's, float32 as the official code") {
  const auto dir = std::filesystem::path(FOVEA_TEST_FIXTURES) / "attention";
  struct Case {
    const char* file;
    int64_t c, h, w;
    const char* method;
  };
  for (const Case& k : {Case{"fca-top16-14", 16, 14, 14, "top16"},
                        Case{"fca-max7-9x8", 16, 9, 8, "low8"},
                        Case{"fca-fixed7", 32, 7, 7, "bot32"},
                        Case{"fca-explicit", 8, 14, 7, "top4"},
                        Case{"fca-reference-small", 16, 5, 6, "top16"}}) {
    CAPTURE(k.file);
    const io::SafetensorsFile in = io::load_safetensors((dir / (std::string(k.file) +
                                                                ".in.safetensors")).string());
    MultiSpectralAttentionLayer m(k.c, k.h, k.w, {2, k.method});
    m.to(DType::Float64);
    CHECK(amax(abs(filters(m) - in.at("dct_layer.weight"))).item() == 0.0);
  }
}

TEST_CASE("FcaNet: the slot's DCT size rules max7, reference and fixed7") {
  CHECK(dct_shape(from_slot(16, 32, 32, "")) == Shape{32, 32});  // max7: the official sizing
  CHECK(dct_shape(from_slot(16, 4, 4, "")) == Shape{7, 7});      // small maps pooled up to 7x7
  CHECK(dct_shape(from_slot(16, 4, 9, "")) == Shape{7, 9});
  CHECK(dct_shape(from_slot(16, 4, 4, "dct_size=reference")) == Shape{4, 4});
  CHECK(dct_shape(from_slot(16, 32, 32, "dct_size=reference")) == Shape{32, 32});
  CHECK(dct_shape(from_slot(16, 32, 32, "dct_size=fixed7")) == Shape{7, 7});
  CHECK(dct_shape(from_slot(16, 4, 4, "dct_size=fixed7")) == Shape{7, 7});
  CHECK(dct_shape(from_slot(16, 8, 8, "dct_h=14,dct_w=10")) == Shape{14, 10});
  // Unknown map size: the official per-stage size 56, 28, 14, 7.
  CHECK(dct_shape(from_slot(16, 0, 0, "", 1)) == Shape{56, 56});
  CHECK(dct_shape(from_slot(16, 0, 0, "dct_size=reference", 2)) == Shape{28, 28});
  CHECK(dct_shape(from_slot(16, 0, 0, "", 4)) == Shape{7, 7});
  CHECK(dct_shape(from_slot(16, 0, 0, "dct_size=fixed7", 1)) == Shape{7, 7});

  attention::register_all();
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "fca", 32);
  const auto st = net->state_dict();
  CHECK(st.at("layer1.0.att.dct_layer.weight").shape() == Shape{16, 32, 32});
  CHECK(st.at("layer3.0.att.dct_layer.weight").shape() == Shape{64, 8, 8});
  CHECK(st.at("layer3.0.att.fc.0.weight").shape() == Shape{4, 64});
  CHECK((*net)(randn({2, 3, 32, 32})).shape() == Shape{2, 10});
  // No size given: a CIFAR ResNet is made for 32 x 32, and other sizes are pooled to the DCT's.
  auto unsized = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "fca:dct_size=reference");
  CHECK(unsized->state_dict().at("layer2.0.att.dct_layer.weight").shape() == Shape{32, 16, 16});
  CHECK((*unsized)(randn({2, 3, 24, 24})).shape() == Shape{2, 10});
}

TEST_CASE("FcaNet: constraints and errors") {
  CHECK_THROWS_WITH_AS(MultiSpectralAttentionLayer(24, 7, 7),
                       Contains("MultiSpectralAttentionLayer: channels 24 not divisible by the 16 "
                                "frequencies of top16"),
                       Error);
  CHECK_THROWS_WITH_AS(MultiSpectralAttentionLayer(16, 7, 7, {32, "top16"}),
                       Contains("channels 16 // reduction 32 must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(MultiSpectralAttentionLayer(16, 7, 7, {4, "top3"}),
                       Contains("unknown freq_sel_method \"top3\" (top1, top2,"), Error);
  CHECK_THROWS_WITH_AS(MultiSpectralAttentionLayer(16, 0, 7), Contains("DCT size 0x7"), Error);
  CHECK_THROWS_WITH_AS(from_slot(16, 8, 8, "dct_h=-2"),
                       Contains("option dct_h=-2 is not an integer in 0..256"), Error);
  CHECK_THROWS_WITH_AS(from_slot(16, 8, 8, "dct_w=100000"),
                       Contains("option dct_w=100000 is not an integer in 0..256"), Error);
  CHECK_THROWS_WITH_AS(from_slot(16, 8, 8, "dct_h=6"),
                       Contains("a DCT size of 6x8 turns every frequency into the DC term"),
                       Error);
  CHECK(dct_shape(from_slot(16, 8, 8, "dct_h=6,dct_size=reference")) == Shape{6, 8});
  CHECK_THROWS_WITH_AS(from_slot(16, 8, 8, "dct_size=max8"), Contains("dct_size"), Error);
  CHECK_THROWS_WITH_AS(from_slot(16, 8, 8, "freq_sel_method=mid16"), Contains("freq_sel_method"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "fca:freq_sel_method=top32"),
                       Contains("channels 16 not divisible by the 32 frequencies of top32"), Error);
  MultiSpectralAttentionLayer m(16, 7, 7, {4, "top16"});
  CHECK_THROWS_WITH_AS(m(randn({2, 8, 7, 7})),
                       Contains("MultiSpectralAttentionLayer: expected input [N, 16, H, W]"), Error);
}

TEST_CASE("FcaNet: the channel map, and DC only is a sqrt(HW)-scaled SE") {
  manual_seed(21);
  auto m = std::make_shared<MultiSpectralAttentionLayer>(16, 5, 6, FcaOptions{4, "top1"});
  m->to(DType::Float64);
  m->set_recording(true);
  const Tensor x = randn({3, 16, 5, 6}, DType::Float64);
  const Tensor y = (*m)(x);
  const Tensor a = m->map("channel");
  CHECK(a.shape() == Shape{3, 16});
  CHECK(amax(abs(y - x * a.reshape({3, 16, 1, 1}))).item() == 0.0);
  // The DC filter is 1 / sqrt(30) (rounded to float32 as the official buffer).
  const double dc = amax(filters(*m)).item();
  CHECK(dc == doctest::Approx(1 / std::sqrt(30.0)).epsilon(1e-7));
  const Tensor se = (*m->fc)(mean(x, {2, 3}) * (30 * dc));
  CHECK(amax(abs(a - se)).item() < 1e-14);
  // A map of another size is pooled to the DCT size first (here 10x12 -> 5x6, 2x2 bins).
  const Tensor big = randn({3, 16, 10, 12}, DType::Float64);
  (*m)(big);
  Pool2dOptions bins;
  bins.kernel = {2, 2};
  const Tensor pooled = avg_pool2d(big, bins);
  (*m)(pooled);
  const Tensor a_pooled = m->map("channel");
  (*m)(big);
  CHECK(amax(abs(m->map("channel") - a_pooled)).item() < 1e-14);
}

TEST_CASE("gradcheck: FcaNet with and without pooling, float64") {
  for (const char* method : {"top16", "bot4"}) {
    CAPTURE(method);
    auto same = std::make_shared<MultiSpectralAttentionLayer>(16, 7, 7, FcaOptions{4, method});
    same->to(DType::Float64);
    test::check_module_gradients("FcaNet 7x7", same, {2, 16, 7, 7});
    auto pooled = std::make_shared<MultiSpectralAttentionLayer>(16, 7, 7, FcaOptions{4, method});
    pooled->to(DType::Float64);
    test::check_module_gradients("FcaNet 5x6 pooled to 7x7", pooled, {2, 16, 5, 6});
  }
  auto m = from_slot(64, 16, 16, "");
  m->to(DType::Float64);
  test::check_module_directional("FcaNet 4x64x16x16", m, {4, 64, 16, 16}, 1, test::kRealisticEps);
}
