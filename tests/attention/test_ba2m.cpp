// BA2M (spec §15, EXPERIMENTAL: the spec's reconstruction, no public code): the state_dict names
// per part, init, every option and constraint, the forward written out by hand, the eval
// policies, one-sample training, the batch coupling, float64 gradient checks (each part alone
// and all together, both reweightings, train and eval) and the module in a CIFAR ResNet. Values
// against the PyTorch reconstruction are in test_fixtures.cpp.
#include <doctest/doctest.h>

#include <cmath>

#include "attention/ba2m.h"
#include "attention/register.h"
#include "engine/fovea.h"
#include "layers/resnet.h"
#include "support/module_check.h"

using namespace fovea;
using namespace fovea::attention;
using doctest::Contains;

namespace {

std::vector<std::string> keys(const nn::Module& m) { return m.state_dict().keys(); }

BA2MOptions opts(std::vector<std::string> parts, int64_t r,
                 const std::string& reweight = "n_times_w",
                 const std::string& eval_policy = "batch") {
  BA2MOptions o;
  o.parts = std::move(parts);
  o.r = r;
  o.reweight = reweight;
  o.eval_policy = eval_policy;
  return o;
}

// Float64 and moved off PyTorch's default init, so the parts' maps, and with them the scores,
// differ between samples.
std::shared_ptr<BA2M> ba2m64(int64_t channels, const BA2MOptions& o, bool train, uint64_t seed) {
  auto m = std::make_shared<BA2M>(channels, o);
  m->to(DType::Float64);
  test::move_parameters(*m, seed, 0.5);
  m->train(train);
  return m;
}

// The parameters whose gradient is exactly 0 (ba2m.h): in training the bias of every local
// conv right before a BatchNorm (all but the last); with activation=none the last bias of each
// part, a shift of every sample's score that the batch softmax cancels.
std::vector<std::string> zero_by_structure(const BA2M& m) {
  std::vector<std::string> k;
  const size_t last = m.local ? m.local->size() - 1 : 0;
  if (m.local && m.is_training())
    for (size_t i = 0; i < last; i += 3) k.push_back("local." + std::to_string(i) + ".bias");
  if (m.options.activation == "none") {
    if (m.channel) k.push_back("channel.2.bias");
    if (m.local) k.push_back("local." + std::to_string(last) + ".bias");
    if (m.global_transform)
      k.push_back("global.transform." + std::to_string(m.global_transform->size() - 1) + ".bias");
  }
  return k;
}

// Full float64 checks; those above are left out (and asserted 0) in training, where they exist.
void check_gradients(const std::string& name, const std::shared_ptr<BA2M>& m, const Shape& shape) {
  const std::vector<std::string> zero = zero_by_structure(*m);
  if (m->is_training())
    test::check_train_gradients_except(name, m, shape, zero);
  else {
    REQUIRE(zero.empty());
    test::check_module_gradients(name, m, shape);
  }
}

// A fixed random factor per output element: L = sum v R Y. Written when the directional check
// drew its loss weights v from the input's seed (v = x, L = sum_i f_i |X_i|^2 ~ 6.5e4 at
// 4x64x16x16, where no step was both small enough for the truncation error and large enough
// for L's rounding). It now draws v from its own stream; the factor stays as a second,
// independent weighting and changes nothing else the check sees.
class Decorrelated : public nn::Module {
 public:
  Decorrelated(std::shared_ptr<BA2M> m, const Shape& shape, uint64_t seed)
      : Module("Decorrelated"), m_(register_module("m", std::move(m))) {
    Generator gen(seed + 1);
    r_ = randn(shape, DType::Float64, &gen);
  }
  Tensor forward(const Tensor& x) override { return (*m_)(x) * r_; }

 private:
  std::shared_ptr<BA2M> m_;
  Tensor r_;
};

const std::vector<std::vector<std::string>> kPartSets{
    {"channel"}, {"local"}, {"global"}, {"channel", "local", "global"}};

std::string joined(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : "+") + p;
  return s;
}

}  // namespace

TEST_CASE("BA2M: names per part, default init, options and constraints") {
  manual_seed(41);
  BA2M m(64);
  std::vector<std::string> want{"channel.0.weight", "channel.0.bias", "channel.2.weight",
                                "channel.2.bias"};
  for (int i : {0, 3, 6}) {
    const std::string conv = "local." + std::to_string(i), bn = "local." + std::to_string(i + 1);
    for (const std::string k : {".weight", ".bias"}) want.push_back(conv + k);
    for (const std::string k :
         {".weight", ".bias", ".running_mean", ".running_var", ".num_batches_tracked"})
      want.push_back(bn + k);
  }
  for (const std::string k :
       {"local.9.weight", "local.9.bias", "global.conv_mask.weight", "global.transform.0.weight",
        "global.transform.0.bias", "global.transform.2.weight", "global.transform.2.bias"})
    want.push_back(k);
  CHECK(keys(m) == want);
  const auto st = m.state_dict();
  CHECK(st.at("channel.0.weight").shape() == Shape{4, 64});  // r = 16
  CHECK(st.at("local.3.weight").shape() == Shape{4, 4, 3, 3});
  const auto dilated = std::dynamic_pointer_cast<nn::Conv2d>((*m.local)[3]);
  CHECK(dilated->options.dilation == std::array<int64_t, 2>{4, 4});
  CHECK(dilated->options.padding == std::array<int64_t, 2>{4, 4});
  CHECK(st.at("local.9.weight").shape() == Shape{1, 4, 1, 1});
  CHECK(st.at("global.conv_mask.weight").shape() == Shape{1, 64, 1, 1});
  CHECK(st.at("global.transform.2.weight").shape() == Shape{64, 4});
  // PyTorch's default: weights and biases within 1 / sqrt(fan_in); BN weight 1, bias 0.
  CHECK(amax(abs(st.at("channel.0.bias"))).item() <= 1 / std::sqrt(64.0));
  CHECK(amax(abs(st.at("channel.2.weight"))).item() <= 1 / std::sqrt(4.0));
  CHECK(amax(abs(st.at("local.3.weight"))).item() <= 1 / std::sqrt(36.0));
  CHECK(amax(abs(st.at("local.3.bias"))).item() > 0);
  CHECK(amin(st.at("local.4.weight")).item() == 1.0);
  CHECK(amax(abs(st.at("local.4.bias"))).item() == 0.0);

  // Only the parts asked for, registered channel, local, global whatever the order given.
  BA2MOptions o = opts({"global", "channel"}, 8);
  o.global_transform = "gc";
  BA2M gc(32, o);
  CHECK(gc.local == nullptr);
  CHECK(keys(gc) == std::vector<std::string>{
                        "channel.0.weight", "channel.0.bias", "channel.2.weight", "channel.2.bias",
                        "global.conv_mask.weight", "global.transform.0.weight",
                        "global.transform.0.bias", "global.transform.1.weight",
                        "global.transform.1.bias", "global.transform.3.weight",
                        "global.transform.3.bias"});
  CHECK(gc.state_dict().at("global.transform.1.weight").shape() == Shape{4});  // LayerNorm(h)
  BA2MOptions plain = opts({"local"}, 4);
  plain.dilated_convs = 0;
  CHECK(keys(BA2M(8, plain)).size() == 9);  // conv, BN (5), conv

  // The slot's factory reads every option; --list marks the module experimental.
  const nn::AttentionSpec spec = ba2m_spec();
  CHECK(spec.child_name == "ba2m");
  CHECK(spec.position == nn::AttentionPosition::AfterLastNorm);
  CHECK(spec.help.find("EXPERIMENTAL") == 0);
  nn::AttentionContext c;
  c.channels = 16;
  c.options = nn::AttentionOptions(
      "ba2m", spec.options,
      "parts=local+global,r=4,dilation=2,dilated_convs=1,global_transform=gc,activation=none,"
      "temperature=0.5,reweight=one_plus_w,eval_policy=batch");
  auto built = std::dynamic_pointer_cast<BA2M>(spec.make(c));
  CHECK(built->extra_repr() ==
        "channels=16, parts=local+global, r=4, dilation=2, dilated_convs=1, global_transform=gc, "
        "activation=none, temperature=0.5, reweight=one_plus_w, eval_policy=batch");
  c.options = nn::AttentionOptions("ba2m", spec.options, "");
  CHECK(std::dynamic_pointer_cast<BA2M>(spec.make(c))->extra_repr() ==
        "channels=16, parts=channel+local+global, r=16, dilation=4, dilated_convs=2, "
        "global_transform=mlp, activation=sigmoid, temperature=1, reweight=n_times_w, "
        "eval_policy=identity");

  // Bad configurations, in the constructor and through the options.
  CHECK_THROWS_WITH_AS(BA2M(8), Contains("BA2M: channels 8 // r 16 must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(BA2M(8, opts({"channel"}, 0)), Contains("BA2M: channels 8 // r 0"), Error);
  CHECK_THROWS_WITH_AS(BA2M(8, opts({}, 2)), Contains("BA2M: parts is empty"), Error);
  CHECK_THROWS_WITH_AS(BA2M(8, opts({"local", "local"}, 2)),
                       Contains("BA2M: part \"local\" given twice"), Error);
  CHECK_THROWS_WITH_AS(BA2M(8, opts({"spatial"}, 2)),
                       Contains("BA2M: part \"spatial\" is not one of channel, local, global"),
                       Error);
  for (double t : {0.0, -1.0, std::nan("")}) {
    BA2MOptions bad = opts({"channel"}, 2);
    bad.temperature = t;
    CHECK_THROWS_WITH_AS(BA2M(8, bad), Contains("must be > 0 (the batch softmax divides"), Error);
  }
  BA2MOptions bad = opts({"global"}, 8);
  bad.global_transform = "gc";
  CHECK_THROWS_WITH_AS(BA2M(8, bad),
                       Contains("BA2M: global_transform=gc needs channels 8 // r 8 >= 2"), Error);
  bad = opts({"local"}, 2);
  bad.dilation = 0;
  CHECK_THROWS_WITH_AS(BA2M(8, bad), Contains("BA2M: dilation 0 must be >= 1"), Error);
  bad = opts({"local"}, 2);
  bad.reweight = "n_w";
  CHECK_THROWS_WITH_AS(BA2M(8, bad),
                       Contains("BA2M: reweight \"n_w\" is not one of n_times_w, one_plus_w"),
                       Error);
  bad = opts({"local"}, 2, "n_times_w", "running");
  CHECK_THROWS_WITH_AS(BA2M(8, bad), Contains("BA2M: eval_policy \"running\""), Error);
  for (const char* text : {"parts=", "parts=channel+channel", "temperature=-2x"}) {
    CAPTURE(text);
    c.options = nn::AttentionOptions("ba2m", spec.options, text);
    CHECK_THROWS_WITH_AS(spec.make(c), Contains("attention ba2m: option"), Error);
  }
  c.options = nn::AttentionOptions("ba2m", spec.options, "temperature=0");
  CHECK_THROWS_WITH_AS(spec.make(c), Contains("BA2M: temperature 0 must be > 0"), Error);

  // Bad inputs.
  CHECK_THROWS_WITH_AS(m(randn({2, 32, 4, 4})), Contains("BA2M: expected input [N, 64, H, W]"),
                       Error);
  CHECK_THROWS_WITH_AS(m(randn({2, 64, 4})), Contains("BA2M: expected input [N, 64, H, W]"), Error);
  // The local part's BatchNorms need N H W > 1 in training: an error naming BA2M, never NaN.
  CHECK_THROWS_WITH_AS(m(randn({1, 64, 1, 1})),
                       Contains("BA2M: training with the local part needs N x H x W > 1"), Error);
  CHECK(BA2M(64, opts({"channel", "global"}, 16))(randn({1, 64, 1, 1})).shape() ==
        Shape{1, 64, 1, 1});
  m.eval();
  CHECK(m(randn({1, 64, 1, 1})).shape() == Shape{1, 64, 1, 1});
}

TEST_CASE("BA2M: channel and global parts, scores, batch softmax and reweighting by hand") {
  // N = 3, C = 4, h = 2, H x W = 2 x 3, activation none, temperature 0.7.
  const int64_t n = 3, c = 4, hid = 2, hw = 6;
  for (const std::string reweight : {"n_times_w", "one_plus_w"}) {
    CAPTURE(reweight);
    BA2MOptions o = opts({"channel", "global"}, 2, reweight);
    o.activation = "none";
    o.temperature = 0.7;
    auto m = ba2m64(c, o, true, 3);
    m->set_recording(true);
    manual_seed(7);
    const Tensor x = randn({n, c, 2, 3}, DType::Float64);
    const std::vector<double> y = (*m)(x).to_vector<double>(), xv = x.to_vector<double>();
    const auto st = m->state_dict();
    auto p = [&](const std::string& k) { return st.at(k).to_vector<double>(); };
    // y_out = W2 relu(W1 v + b1) + b2, W1 [hid, c], W2 [c, hid].
    auto mlp = [&](const std::string& pre, const std::string& last, const std::vector<double>& v) {
      const auto w1 = p(pre + "0.weight"), b1 = p(pre + "0.bias"), w2 = p(pre + last + ".weight"),
                 b2 = p(pre + last + ".bias");
      std::vector<double> out(c);
      for (int64_t i = 0; i < c; ++i) {
        out[i] = b2[i];
        for (int64_t j = 0; j < hid; ++j) {
          double t = b1[j];
          for (int64_t k = 0; k < c; ++k) t += w1[j * c + k] * v[k];
          out[i] += w2[i * hid + j] * std::max(t, 0.0);
        }
      }
      return out;
    };
    const auto wm = p("global.conv_mask.weight");
    std::vector<double> s(n);
    for (int64_t b = 0; b < n; ++b) {
      auto at = [&](int64_t ch, int64_t q) { return xv[(b * c + ch) * hw + q]; };
      std::vector<double> gap(c, 0.0), logits(hw), z(c, 0.0);
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t q = 0; q < hw; ++q) gap[ch] += at(ch, q) / hw;
      double top = -INFINITY, total = 0;
      for (int64_t q = 0; q < hw; ++q) {
        logits[q] = 0;
        for (int64_t ch = 0; ch < c; ++ch) logits[q] += wm[ch] * at(ch, q);
        top = std::max(top, logits[q]);
      }
      for (double& l : logits) total += (l = std::exp(l - top));
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t q = 0; q < hw; ++q) z[ch] += at(ch, q) * logits[q] / total;
      const auto ac = mlp("channel.", "2", gap), ag = mlp("global.transform.", "2", z);
      for (int64_t ch = 0; ch < c; ++ch) s[b] += (ac[ch] + ag[ch]) / c;  // mean over C, H, W
    }
    double top = -INFINITY, total = 0;
    for (double v : s) top = std::max(top, v / 0.7);
    std::vector<double> w(n);
    for (int64_t b = 0; b < n; ++b) total += (w[b] = std::exp(s[b] / 0.7 - top));
    const auto score = m->map("score").to_vector<double>();
    const auto weight = m->map("weight").to_vector<double>();
    for (int64_t b = 0; b < n; ++b) {
      CAPTURE(b);
      w[b] /= total;
      CHECK(score[b] == doctest::Approx(s[b]).epsilon(1e-13));
      CHECK(weight[b] == doctest::Approx(w[b]).epsilon(1e-13));
      const double f = reweight == "n_times_w" ? n * w[b] : 1 + w[b];
      CHECK(m->map("factor").to_vector<double>()[b] == doctest::Approx(f).epsilon(1e-13));
      for (int64_t i = 0; i < c * hw; ++i)
        CHECK(y[b * c * hw + i] == doctest::Approx(xv[b * c * hw + i] * f).epsilon(1e-13));
    }
  }
}

TEST_CASE("BA2M: the maps of all three parts and the score as the mean of their sum") {
  auto m = ba2m64(16, opts({"channel", "local", "global"}, 4), true, 5);
  m->set_recording(true);
  const Tensor x = randn({3, 16, 5, 6}, DType::Float64);
  const Tensor y = (*m)(x);
  const Tensor ac = m->map("channel"), al = m->map("local"), ag = m->map("global");
  CHECK(ac.shape() == Shape{3, 16, 1, 1});
  CHECK(al.shape() == Shape{3, 1, 5, 6});
  CHECK(ag.shape() == Shape{3, 16, 1, 1});
  CHECK(m->map("global_mask").shape() == Shape{3, 1, 5, 6});
  CHECK(amax(abs(sum(m->map("global_mask"), {2, 3}) - 1.0)).item() < 1e-15);
  CHECK(amin(al).item() > 0);  // sigmoid
  CHECK(amax(ac).item() < 1);
  const Tensor sar = ac + al + ag;  // broadcast to [3, 16, 5, 6]
  CHECK(amax(abs(mean(sar, {1, 2, 3}) - m->map("score"))).item() < 1e-15);
  const Tensor w = m->map("weight");
  CHECK(w.shape() == Shape{3});
  CHECK(amax(abs(w - softmax(m->map("score"), 0))).item() < 1e-15);
  CHECK(std::abs(sum(m->map("factor")).item() - 3.0) < 1e-14);  // N w: mean factor 1
  CHECK(amax(abs(y - x * (w * 3.0).reshape({3, 1, 1, 1}))).item() < 1e-14);
}

TEST_CASE("BA2M: eval policies: identity returns X, batch applies the formula to the batch") {
  const Tensor x = randn({3, 16, 4, 5}, DType::Float64);
  for (const std::string reweight : {"n_times_w", "one_plus_w"}) {
    CAPTURE(reweight);
    // identity (the default): Y = X whatever the batch; the maps still come when recording.
    auto id = ba2m64(16, opts({"channel", "local", "global"}, 4, reweight, "identity"), false, 9);
    Tensor xi = x.detach().clone().set_requires_grad();
    const Tensor y = (*id)(xi);
    CHECK(amax(abs(y - x)).item() == 0.0);
    const Tensor g = randn(y.shape(), DType::Float64);
    y.backward(g);
    CHECK(amax(abs(xi.grad() - g)).item() == 0.0);
    for (const auto& named : id->named_parameters())
      CHECK((!named.second.grad().defined() || amax(abs(named.second.grad())).item() == 0.0));
    id->set_recording(true);
    CHECK(amax(abs((*id)(x) - x)).item() == 0.0);
    CHECK(amax(abs(id->map("weight") - 1.0 / 3)).item() < 1e-16);
    CHECK(amax(abs(id->map("factor") - 1.0)).item() == 0.0);
    CHECK(id->map("score").shape() == Shape{3});
    CHECK(id->map("local").shape() == Shape{3, 1, 4, 5});

    // batch: sample 0's output depends on the samples beside it.
    auto batch = ba2m64(16, opts({"channel", "local", "global"}, 4, reweight, "batch"), false, 9);
    const Tensor y3 = (*batch)(x).narrow(0, 0, 1);
    const Tensor y2 = (*batch)(x.narrow(0, 0, 2)).narrow(0, 0, 1);
    CHECK(amax(abs(y3 - y2)).item() > 1e-6);
    // Same weights in train and eval-batch but for the local part's BN statistics: with
    // channel + global only, eval-batch is the training formula.
    auto cg = ba2m64(16, opts({"channel", "global"}, 4, reweight, "batch"), false, 9);
    const Tensor ye = (*cg)(x);
    cg->train();
    CHECK(amax(abs(ye - (*cg)(x))).item() == 0.0);
  }
}

TEST_CASE("BA2M: one sample in training is allowed: w = 1, Y = X or 2 X, no parameter gradient") {
  for (const std::string reweight : {"n_times_w", "one_plus_w"}) {
    CAPTURE(reweight);
    auto m = ba2m64(16, opts({"channel", "local", "global"}, 4, reweight), true, 13);
    m->set_recording(true);
    const Tensor x = randn({1, 16, 3, 4}, DType::Float64).set_requires_grad();
    const Tensor before = m->state_dict().at("local.1.running_mean").clone();
    const Tensor y = (*m)(x);
    CHECK(m->map("weight").to_vector<double>() == std::vector<double>{1.0});
    const double f = reweight == "n_times_w" ? 1.0 : 2.0;
    CHECK(amax(abs(y - x * f)).item() == 0.0);
    y.backward(randn(y.shape(), DType::Float64));
    // The softmax over one sample is the constant 1: nothing reaches the parts.
    for (const auto& named : m->named_parameters()) {
      CAPTURE(named.first);
      CHECK(amax(abs(named.second.grad())).item() == 0.0);
    }
    // The local BNs still update their running statistics from that sample.
    CHECK(amax(abs(m->state_dict().at("local.1.running_mean") - before)).item() > 0);
  }
}

TEST_CASE("BA2M: the batch coupling: d(output of sample 0) / d(input of sample 1)") {
  // channel alone has no BatchNorm: any coupling in training is the batch softmax's.
  struct Case {
    std::vector<std::string> parts;
    bool train;
    std::string policy;
    bool coupled;
  };
  for (const Case& k : {Case{{"channel"}, true, "identity", true},
                        Case{{"channel", "local", "global"}, true, "identity", true},
                        Case{{"channel", "local", "global"}, false, "batch", true},
                        Case{{"channel", "local", "global"}, false, "identity", false}}) {
    CAPTURE(joined(k.parts));
    CAPTURE(k.train);
    CAPTURE(k.policy);
    auto m = ba2m64(16, opts(k.parts, 4, "n_times_w", k.policy), k.train, 17);
    const Tensor x = randn({3, 16, 4, 4}, DType::Float64).set_requires_grad();
    const Tensor y0 = (*m)(x).narrow(0, 0, 1);
    sum(y0 * randn(y0.shape(), DType::Float64)).backward();
    const double to_sample1 = amax(abs(x.grad().narrow(0, 1, 1))).item();
    if (k.coupled)
      CHECK(to_sample1 > 1e-6);
    else
      CHECK(to_sample1 == 0.0);
  }
}

TEST_CASE("gradcheck: BA2M each part and all, both reweightings, train and eval-batch, float64") {
  uint64_t seed = 20;
  for (const auto& parts : kPartSets)
    for (const std::string reweight : {"n_times_w", "one_plus_w"})
      for (bool train : {true, false}) {
        const std::string name =
            "BA2M " + joined(parts) + " " + reweight + (train ? " train" : " eval-batch");
        CAPTURE(name);
        check_gradients(name, ba2m64(8, opts(parts, 2, reweight), train, ++seed), {3, 8, 4, 5});
      }
  // The other choices at once: raw maps at a low temperature, the gc transform, one dilated
  // conv of dilation 1. Raw maps make every bias that shifts all scores alike 0-gradient
  // (zero_by_structure), and, by chance, also the bias just before an MLP's ReLU (here the gc
  // LayerNorm's) for a hidden unit that is active in every sample of the batch: it then shifts
  // every score alike too. This seed's batch has no such unit (the check would call it vacuous);
  // the raw-maps fixture covers the channel MLP.
  BA2MOptions raw = opts({"local", "global"}, 2, "one_plus_w");
  raw.activation = "none";
  raw.temperature = 0.3;
  raw.global_transform = "gc";
  raw.dilation = 1;
  raw.dilated_convs = 1;
  check_gradients("BA2M raw maps temperature=0.3 gc dilation=1", ba2m64(8, raw, true, 40),
                  {4, 8, 3, 4});
}

TEST_CASE("gradcheck: BA2M directional at 4x64x16x16, each part and all, train and eval-batch") {
  uint64_t seed = 50;
  for (const auto& parts : kPartSets)
    for (const std::string reweight : {"n_times_w", "one_plus_w"})
      for (bool train : {true, false}) {
        const std::string name = "BA2M 4x64x16x16 " + joined(parts) + " " + reweight +
                                 (train ? " train" : " eval-batch");
        const Shape shape{4, 64, 16, 16};
        auto m = ba2m64(64, opts(parts, 16, reweight), train, ++seed);
        test::check_module_directional(name, std::make_shared<Decorrelated>(m, shape, seed), shape,
                                       seed, test::kRealisticEps);
      }
}

TEST_CASE("BA2M in a CIFAR ResNet: every block, as ba2m, with its maps") {
  attention::register_all();
  CHECK(attention::cifar_name("ba2m") == "ba2m");  // r = 16 at C = 16: one hidden unit (§21)
  auto net = nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "ba2m");
  CHECK(net->state_dict().at("layer1.0.ba2m.channel.0.weight").shape() == Shape{1, 16});
  CHECK(net->state_dict().at("layer3.0.ba2m.local.3.weight").shape() == Shape{4, 4, 3, 3});
  nn::set_map_recording(*net, true);
  CHECK((*net)(randn({2, 3, 16, 16})).shape() == Shape{2, 10});
  const auto maps = nn::attention_maps(*net);
  REQUIRE(maps.size() == 3 * 7);
  CHECK(maps[0].first == "layer1.0.ba2m.channel");
  CHECK(maps[0].second.shape() == Shape{2, 16, 1, 1});
  CHECK(maps[1].first == "layer1.0.ba2m.local");
  CHECK(maps[1].second.shape() == Shape{2, 1, 16, 16});
  CHECK(maps[5].first == "layer1.0.ba2m.weight");
  CHECK(maps[20].first == "layer3.0.ba2m.factor");
  CHECK(maps[20].second.shape() == Shape{2});
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "ba2m:parts=channel+pixel"),
                       Contains("attention ba2m: option parts=channel+pixel"), Error);
  CHECK_THROWS_WITH_AS(nn::cifar_resnet(8, 10, 3, nn::Shortcut::A, "ba2m:r=32"),
                       Contains("BA2M: channels 16 // r 32 must be >= 1"), Error);
}


