// SCA-CNN (spec §19): the reference names, the official init (orthogonal when square, N(0, 0.01^2)
// else, biases 0), the options and their errors, the context's shape, a small case written out
// by hand for both orders with and without rescale, the probe's context handling, float64
// gradient checks (input, context, every parameter) and the module in a CIFAR ResNet. Values
// against PyTorch are in test_fixtures.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <algorithm>
#include <functional>

#include "attention/probe.h"
#include "attention/register.h"
#include "attention/sca.h"
#include "engine/fovea.h"
#include "layers/resnet.h"
#include "support/module_check.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {

SCAOptions small(const std::string& order, const std::string& query, bool rescale = true) {
  SCAOptions o;
  o.order = order;
  o.k = 8;
  o.context_dim = 6;
  o.query = query;
  o.rescale = rescale;
  return o;
}

// Float64, every parameter moved off its init (b_c, c_c, b_s, c_s start at 0).
std::shared_ptr<SCA> sca64(int64_t channels, const SCAOptions& o, uint64_t seed) {
  auto m = std::make_shared<SCA>(channels, o);
  m->to(DType::Float64);
  test::move_parameters(*m, seed);
  return m;
}

double std_of(const Tensor& t) {
  const Tensor c = t - mean(t);
  return std::sqrt(mean(c * c).item());
}

std::vector<double> softmax_of(const std::vector<double>& z) {
  double top = z[0], total = 0;
  for (double v : z) top = std::max(top, v);
  std::vector<double> p;
  for (double v : z) p.push_back(std::exp(v - top));
  for (double v : p) total += v;
  for (double& v : p) v /= total;
  return p;
}

// The module's parameters and one sample's math with loops: v is [C][HW] (row-major), h [d].
struct Loops {
  int64_t c, hw, k, d;
  std::vector<double> w_c, b_c, W_hc, u_c, W_s, b_s, W_hs, u_s;
  double c_c, c_s;
  explicit Loops(const SCA& m)
      : c(m.channels), hw(0), k(m.options.k), d(m.options.context_dim),
        w_c(m.w_c.to_vector<double>()), b_c(m.b_c.to_vector<double>()),
        W_hc(m.W_hc.to_vector<double>()), u_c(m.u_c.to_vector<double>()),
        W_s(m.W_s.to_vector<double>()), b_s(m.b_s.to_vector<double>()),
        W_hs(m.W_hs.to_vector<double>()), u_s(m.u_s.to_vector<double>()),
        c_c(m.c_c.item()), c_s(m.c_s.item()) {}

  double project(const std::vector<double>& W, const double* h, int64_t j) const {
    double s = 0;
    for (int64_t i = 0; i < d; ++i) s += h[i] * W[i * k + j];
    return s;
  }
  std::vector<double> beta(const std::vector<double>& v, const double* h) const {
    std::vector<double> z(c, c_c);
    for (int64_t ch = 0; ch < c; ++ch) {
      double vbar = 0;
      for (int64_t p = 0; p < hw; ++p) vbar += v[ch * hw + p] / hw;
      for (int64_t j = 0; j < k; ++j)
        z[ch] += std::tanh(vbar * w_c[j] + b_c[j] + project(W_hc, h, j)) * u_c[j];
    }
    return softmax_of(z);
  }
  std::vector<double> alpha(const std::vector<double>& v, const double* h) const {
    std::vector<double> e(hw, c_s);
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t j = 0; j < k; ++j) {
        double a = b_s[j] + project(W_hs, h, j);
        for (int64_t ch = 0; ch < c; ++ch) a += v[ch * hw + p] * W_s[ch * k + j];
        e[p] += std::tanh(a) * u_s[j];
      }
    return softmax_of(e);
  }
};

}  // namespace

TEST_CASE("SCA: names and official init and options and their errors") {
  SCA given(16, {"cs", 8, 6, "given", true});
  const std::vector<std::string> spec_names{"w_c", "b_c", "W_hc", "u_c", "c_c",
                                            "W_s", "b_s", "W_hs", "u_s", "c_s"};
  CHECK(given.state_dict().keys() == spec_names);
  CHECK(given.w_c.shape() == Shape{1, 8});
  CHECK(given.b_c.shape() == Shape{8});
  CHECK(given.W_hc.shape() == Shape{6, 8});
  CHECK(given.u_c.shape() == Shape{8, 1});
  CHECK(given.c_c.shape() == Shape{1});
  CHECK(given.W_s.shape() == Shape{16, 8});
  CHECK(given.W_hs.shape() == Shape{6, 8});
  CHECK(given.u_s.shape() == Shape{8, 1});
  for (const Tensor* b : {&given.b_c, &given.c_c, &given.b_s, &given.c_s})
    CHECK(amax(abs(*b)).item() == 0.0);

  // Defaults: k 512, context_dim 1000, learned query. No weight is square: N(0, 0.01^2).
  SCA big(64);
  std::vector<std::string> learned_names = spec_names;
  learned_names.push_back("query");
  CHECK(big.state_dict().keys() == learned_names);
  CHECK(big.query.shape() == Shape{1, 1000});
  CHECK(big.W_hc.shape() == Shape{1000, 512});
  CHECK(std_of(big.W_hc) == doctest::Approx(0.01).epsilon(0.01));
  CHECK(std_of(big.W_hs) == doctest::Approx(0.01).epsilon(0.01));
  CHECK(std_of(big.W_s) == doctest::Approx(0.01).epsilon(0.02));
  CHECK(std_of(big.query) == doctest::Approx(1.0).epsilon(0.1));
  // Square (C = k = d = 32): W_hc, W_s and W_hs orthogonal with gain 1; w_c, u_c stay N(0, 0.01^2).
  SCA square(32, {"cs", 32, 32, "pooled", true});
  for (const Tensor* w : {&square.W_hc, &square.W_s, &square.W_hs}) {
    const std::vector<double> wtw = matmul(w->transpose(0, 1), *w).to_vector<double>();
    double worst = 0;
    for (size_t i = 0; i < wtw.size(); ++i)
      worst = std::max(worst, std::abs(wtw[i] - (i % 33 == 0 ? 1.0 : 0.0)));  // W^T W = I
    CHECK(worst < 1e-5);
  }
  CHECK(amax(abs(square.u_c)).item() < 0.1);
  std::vector<std::string> pooled_names = spec_names;
  pooled_names.push_back("query_proj.weight");
  pooled_names.push_back("query_proj.bias");
  CHECK(square.state_dict().keys() == pooled_names);
  CHECK(square.query_proj->weight.shape() == Shape{32, 32});

  CHECK_THROWS_WITH_AS(SCA(0), Contains("SCA: channels 0 must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(SCA(16, {"cs", 0, 6}), Contains("SCA: k=0 must be in [1, 4096]"), Error);
  CHECK_THROWS_WITH_AS(SCA(16, {"cs", 8, 5000}), Contains("SCA: context_dim=5000 must be in [1, "
                                                          "4096]"),
                       Error);
  CHECK_THROWS_WITH_AS(SCA(16, {"cx", 8, 6}), Contains("SCA: unknown order \"cx\""), Error);
  CHECK_THROWS_WITH_AS(SCA(16, {"cs", 8, 6, "lstm"}),
                       Contains("SCA: unknown query \"lstm\" (learned, pooled, given)"), Error);

  // Through the slot's factory: the options by name, and their errors.
  const nn::AttentionSpec spec = sca_spec();
  CHECK(spec.child_name == "sca");
  CHECK(spec.position == nn::AttentionPosition::AfterLastNorm);
  nn::AttentionContext c;
  c.channels = 16;
  c.options = nn::AttentionOptions("sca", spec.options,
                                   "order=sc,k=4,context_dim=3,query=pooled,rescale=false");
  auto built = std::dynamic_pointer_cast<SCA>(spec.make(c));
  REQUIRE(built);
  CHECK(built->extra_repr() ==
        "channels=16, k=4, context_dim=3, order=sc, query=pooled, rescale=False");
  CHECK(!built->needs_context());
  c.options = nn::AttentionOptions("sca", spec.options, "order=xy");
  CHECK_THROWS_WITH_AS(spec.make(c), Contains("attention sca: option order=xy is not"), Error);
  c.options = nn::AttentionOptions("sca", spec.options, "k=100000");
  CHECK_THROWS_WITH_AS(spec.make(c), Contains("attention sca: option k=100000 is not"), Error);
  c.options = nn::AttentionOptions("sca", spec.options, "query=given");
  CHECK(std::dynamic_pointer_cast<SCA>(spec.make(c))->needs_context());
}

TEST_CASE("SCA: bad inputs and contexts are errors naming the shapes") {
  SCA m(16, small("cs", "learned"));
  const Tensor x = randn({2, 16, 5, 6});
  CHECK_THROWS_WITH_AS(m(randn({2, 8, 5, 6})), Contains("SCA: expected input [N, 16, H, W], got "
                                                        "float32[2, 8, 5, 6]"),
                       Error);
  CHECK_THROWS_WITH_AS(m.attend_call(x, randn({2, 5})),
                       Contains("SCA: expected context [N, context_dim] = [2, 6] for input "
                                "float32[2, 16, 5, 6], got float32[2, 5]"),
                       Error);
  CHECK_THROWS_WITH_AS(m.attend_call(x, randn({3, 6})), Contains("got float32[3, 6]"), Error);
  CHECK_THROWS_WITH_AS(m.attend_call(x, randn({6})), Contains("got float32[6]"), Error);
  CHECK_THROWS_WITH_AS(m.attend_call(x, randn({2, 6, 1})), Contains("got float32[2, 6, 1]"),
                       Error);
  CHECK(m.attend_call(x, randn({2, 6})).shape() == x.shape());
  SCA given(16, small("cs", "given"));
  CHECK_THROWS_WITH_AS(given(x), Contains("SCA: query=given takes its context from attend(x, "
                                          "context) and forward(x) has none"),
                       Error);
}

TEST_CASE("SCA: both orders with and without rescale written out by hand") {
  for (const std::string order : {"cs", "sc"})
    for (bool rescale : {true, false}) {
      CAPTURE(order);
      CAPTURE(rescale);
      auto m = sca64(5, {order, 4, 3, "given", rescale}, 7);
      m->set_recording(true);
      manual_seed(3);
      const Tensor x = randn({2, 5, 3, 2}, DType::Float64), h = randn({2, 3}, DType::Float64);
      const std::vector<double> y = m->attend_call(x, h).to_vector<double>();
      const std::vector<double> beta_got = m->map("channel").to_vector<double>();
      const std::vector<double> alpha_got = m->map("spatial").to_vector<double>();
      CHECK(m->map("spatial").shape() == Shape{2, 1, 3, 2});
      Loops l(*m);
      l.hw = 6;
      const double s_c = rescale ? 5 : 1, s_s = rescale ? 6 : 1;
      const std::vector<double> xv = x.to_vector<double>(), hv = h.to_vector<double>();
      for (int64_t n = 0; n < 2; ++n) {
        const std::vector<double> v(xv.begin() + n * 30, xv.begin() + (n + 1) * 30);
        std::vector<double> weighted = v, beta, alpha;
        if (order == "cs") {
          beta = l.beta(v, &hv[n * 3]);
          for (int64_t i = 0; i < 30; ++i) weighted[i] *= beta[i / 6] * s_c;
          alpha = l.alpha(weighted, &hv[n * 3]);
        } else {
          alpha = l.alpha(v, &hv[n * 3]);
          for (int64_t i = 0; i < 30; ++i) weighted[i] *= alpha[i % 6] * s_s;
          beta = l.beta(weighted, &hv[n * 3]);
        }
        for (int64_t i = 0; i < 30; ++i) {
          CAPTURE(n);
          CAPTURE(i);
          CHECK(y[n * 30 + i] ==
                doctest::Approx(v[i] * beta[i / 6] * alpha[i % 6] * s_c * s_s).epsilon(1e-13));
          CHECK(beta_got[n * 5 + i / 6] == doctest::Approx(beta[i / 6]).epsilon(1e-13));
          CHECK(alpha_got[n * 6 + i % 6] == doctest::Approx(alpha[i % 6]).epsilon(1e-13));
        }
      }
    }
}

TEST_CASE("SCA: uniform weights give Y = V with rescale and V / (HW C) without") {
  // u_c = u_s = 0: every logit is c_c or c_s, beta = 1/C, alpha = 1/HW.
  for (bool rescale : {true, false}) {
    auto m = sca64(6, {"sc", 4, 3, "learned", rescale}, 2);
    {
      NoGradGuard no_grad;
      m->u_c.zero_();
      m->u_s.zero_();
    }
    const Tensor x = randn({3, 6, 4, 5}, DType::Float64);
    const Tensor expect = rescale ? x : x / 120.0;
    CHECK(amax(abs((*m)(x) - expect)).item() < 1e-14);
  }
}

TEST_CASE("SCA: the probe takes a context for query=given and the input alone otherwise") {
  const std::string dir = std::string(FOVEA_TEST_FIXTURES) + "/attention/";
  const io::SafetensorsFile good = io::load_safetensors(dir + "sca-cs.in.safetensors");
  const probe::Request r = probe::request_of(good.metadata);
  CHECK(r.options == "k=8,context_dim=6,query=given");
  auto edited = [&](const std::function<void(io::NamedTensors&)>& edit) {
    io::SafetensorsFile f = good;
    edit(f.tensors);
    return f;
  };
  CHECK_THROWS_WITH_AS(probe::run(r, edited([](auto& t) {
                         for (auto& [k, v] : t)
                           if (k == "context") v = zeros({2, 5}, DType::Float64);
                       })),
                       Contains("SCA: expected context [N, context_dim] = [2, 6] for input "
                                "float64[2, 16, 5, 6], got float64[2, 5]"),
                       Error);
  CHECK_THROWS_WITH_AS(probe::run(r, edited([](auto& t) {
                         for (auto& [k, v] : t)
                           if (k == "context") v = zeros({3, 6}, DType::Float64);
                       })),
                       Contains("got float64[3, 6]"), Error);
  CHECK_THROWS_WITH_AS(probe::run(r, edited([](auto& t) {
                         t.erase(std::remove_if(t.begin(), t.end(),
                                                [](const auto& i) { return i.first == "context"; }),
                                 t.end());
                       })),
                       Contains("attention_probe: sca takes a second input, \"context\", and the "
                                "input file has none"),
                       Error);
  // The learned query makes its own context: a "context" in the file is an unknown key.
  const io::SafetensorsFile learned = io::load_safetensors(dir + "sca-learned.in.safetensors");
  io::SafetensorsFile with_context = learned;
  with_context.tensors.emplace_back("context", zeros({2, 6}, DType::Float64));
  CHECK_THROWS_WITH_AS(probe::run(probe::request_of(learned.metadata), with_context),
                       Contains("attention_probe: unknown key \"context\""), Error);
  const io::NamedTensors out = probe::run(probe::request_of(learned.metadata), learned);
  CHECK(out[0].first == "output");
  CHECK(out[1].first == "grad.input");
  CHECK(out[2].first == "grad.w_c");  // no grad.context
}

TEST_CASE("SCA: parameter gradients accumulate over backward calls") {
  auto m = sca64(4, small("cs", "pooled"), 4);
  const Tensor x = randn({2, 4, 3, 3}, DType::Float64);
  sum((*m)(x)).backward();
  const Tensor once = m->W_s.grad().clone(), proj_once = m->query_proj->weight.grad().clone();
  sum((*m)(x)).backward();
  CHECK(amax(abs(m->W_s.grad() - 2.0 * once)).item() < 1e-15);
  CHECK(amax(abs(m->query_proj->weight.grad() - 2.0 * proj_once)).item() < 1e-15);
}

namespace {

// Gradient check of the input(s) and every parameter but c_c and c_s: a constant added to all
// logits of a softmax leaves it unchanged, so their gradients are 0 by structure (gradcheck would
// rightly call the check vacuous); they are asserted to be rounding-level instead.
void check_sca(const std::string& name, const std::shared_ptr<SCA>& m, const Shape& x_shape,
               bool with_context) {
  std::vector<Shape> shapes{x_shape};
  if (with_context) shapes.push_back({x_shape[0], m->context_dim()});
  const size_t n_in = shapes.size();
  auto run = [m, with_context](const std::vector<Tensor>& in) {
    return with_context ? m->attend_call(in[0], in[1]) : (*m)(in[0]);
  };
  std::vector<std::pair<std::string, Tensor>> checked;
  for (const auto& named : m->named_parameters())
    if (named.first != "c_c" && named.first != "c_s") {
      checked.push_back(named);
      shapes.push_back(named.second.shape());
    }
  test::OpCase c{name, shapes, [m, checked, n_in, run](const std::vector<Tensor>& in) {
                   for (size_t i = 0; i < checked.size(); ++i)
                     m->replace_parameter(checked[i].first, in[n_in + i]);
                   return run(in);
                 }};
  c.layouts = {test::Layout::Contiguous, test::Layout::Permuted};
  test::check_op_cases({c});
  for (const auto& named : checked) m->replace_parameter(named.first, named.second);

  m->zero_grad();
  std::vector<Tensor> in;
  for (size_t i = 0; i < n_in; ++i) in.push_back(randn(shapes[i], DType::Float64));
  const Tensor y = run(in);
  y.backward(randn(y.shape(), DType::Float64));
  const double largest = amax(abs(m->W_s.grad())).item();
  CHECK(largest > 1e-3);
  for (const Tensor* shift : {&m->c_c, &m->c_s})
    CHECK(amax(abs(shift->grad())).item() <= 1e-13 * largest);
  m->zero_grad();
}

}  // namespace

TEST_CASE("gradcheck: SCA with a given context in both orders and rescale on and off") {
  const Shape s{2, 5, 3, 4};
  check_sca("SCA cs given", sca64(5, small("cs", "given"), 1), s, true);
  check_sca("SCA sc given", sca64(5, small("sc", "given"), 2), s, true);
  check_sca("SCA cs given no rescale", sca64(5, small("cs", "given", false), 3), s, true);
  check_sca("SCA sc given no rescale", sca64(5, small("sc", "given", false), 4), s, true);
  check_sca("SCA square C = k = d", sca64(6, {"cs", 6, 6, "given", true}, 5), {3, 6, 2, 3},
            true);
}

TEST_CASE("gradcheck: SCA with its own context from a learned or pooled query") {
  const Shape s{2, 5, 3, 4};
  check_sca("SCA cs learned", sca64(5, small("cs", "learned"), 6), s, false);
  check_sca("SCA sc learned", sca64(5, small("sc", "learned"), 7), s, false);
  check_sca("SCA cs pooled", sca64(5, small("cs", "pooled"), 8), s, false);
  check_sca("SCA sc pooled no rescale", sca64(5, small("sc", "pooled", false), 9), s, false);
  // Realistic size: the CIFAR options, directional (one random direction over input and
  // every parameter).
  for (const auto& [order, query] : {std::pair<std::string, std::string>{"cs", "learned"},
                                      {"sc", "pooled"}}) {
    auto m = sca64(64, {order, 64, 64, query, true}, 10);
    test::check_module_directional("SCA 4x64x16x16 " + order + " " + query, m, {4, 64, 16, 16},
                                   1, test::kRealisticEps);
  }
}

TEST_CASE("SCA in a CIFAR ResNet: named sca with maps per block and query=given refused") {
  attention::register_all();
  CHECK(attention::cifar_name("sca") == "sca:k=64,context_dim=64");
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, attention::cifar_name("sca"));
  nn::set_map_recording(*net, true);
  const Tensor y = (*net)(randn({2, 3, 8, 8}));
  CHECK(y.shape() == Shape{2, 10});
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 6);
  CHECK(maps[0].first == "layer1.0.sca.channel");
  CHECK(maps[0].second.shape() == Shape{2, 16});
  CHECK(maps[1].first == "layer1.0.sca.spatial");
  CHECK(maps[1].second.shape() == Shape{2, 1, 8, 8});
  CHECK(maps[5].first == "layer3.0.sca.spatial");
  CHECK(maps[5].second.shape() == Shape{2, 1, 2, 2});
  const nn::StateDict state = net->state_dict();
  CHECK(state.at("layer2.0.sca.W_s").shape() == Shape{32, 64});
  CHECK(state.at("layer3.0.sca.query").shape() == Shape{1, 64});
  auto pooled = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "sca:k=16,context_dim=8,query=pooled");
  CHECK(pooled->state_dict().at("layer1.0.sca.query_proj.weight").shape() == Shape{8, 16});
  sum((*pooled)(randn({2, 3, 8, 8}))).backward();
  for (const auto& item : pooled->named_parameters()) {
    const std::string& name = item.first;  // not a binding: CAPTURE's lambda captures it
    const Tensor& p = item.second;
    if (name.rfind("layer1.0.sca.", 0) == 0 && name != "layer1.0.sca.c_c" &&
        name != "layer1.0.sca.c_s") {
      CAPTURE(name);
      CHECK(amax(abs(p.grad())).item() > 0);
    }
  }
  auto given = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "sca:k=8,context_dim=4,query=given");
  CHECK_THROWS_WITH_AS((*given)(randn({2, 3, 8, 8})), Contains("SCA: query=given"), Error);
}
