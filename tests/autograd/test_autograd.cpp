// The autograd tape and engine: accumulation, graph lifetime, in-place detection, hooks,
// grad mode, deep graphs, DOT export, and proof that gradcheck catches a wrong backward.
#include <doctest/doctest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "engine/fovea.h"
#include "support/fake_cuda.h"

using namespace fovea;

namespace {
Tensor vec(std::vector<double> v) {
  const int64_t n = int64_t(v.size());
  return from_vector(v, {n});
}
std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }
}  // namespace

TEST_CASE("gradients accumulate into leaves across backward calls") {
  Tensor x = vec({1, 2, 3}).set_requires_grad();
  sum(x * x).backward();
  CHECK(values(x.grad()) == std::vector<double>{2, 4, 6});
  sum(x * 3.0).backward();
  CHECK(values(x.grad()) == std::vector<double>{5, 7, 9});
  x.set_grad(Tensor());
  sum(x).backward();
  CHECK(values(x.grad()) == std::vector<double>{1, 1, 1});
}

TEST_CASE("a tensor used twice receives the sum of both gradients") {
  Tensor x = vec({2, -1}).set_requires_grad();
  Tensor y = exp(x);
  sum(y * x + y).backward();  // d/dx (x e^x + e^x) = e^x (x + 2)
  CHECK(x.grad().at({0}) == doctest::Approx(std::exp(2.0) * 4));
  CHECK(x.grad().at({1}) == doctest::Approx(std::exp(-1.0) * 1));
}

TEST_CASE("backward with an explicit upstream gradient, implicit needs a scalar") {
  Tensor x = vec({1, 2}).set_requires_grad();
  Tensor y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("implicit gradient needs a one-element"),
                       Error);
  y.backward(vec({10, 100}), true);
  CHECK(values(x.grad()) == std::vector<double>{20, 200});
  CHECK_THROWS_WITH_AS(y.backward(vec({1, 2, 3})), doctest::Contains("does not match output"),
                       Error);
  CHECK_THROWS_WITH_AS(vec({1}).backward(), doctest::Contains("does not require grad"), Error);
}

TEST_CASE("the graph is freed after backward, a second backward is a clear error") {
  Tensor x = vec({1, 2}).set_requires_grad();
  Tensor loss = sum(x * x);
  loss.backward();
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("backward through the graph a second time"),
                       Error);
  Tensor loss2 = sum(x * x);
  loss2.backward({}, /*retain_graph=*/true);
  loss2.backward();  // allowed: the first kept the graph
  CHECK(values(x.grad()) == std::vector<double>{2 + 2 + 2, 4 + 4 + 4});
}

TEST_CASE("changing a saved tensor in place makes backward refuse") {
  Tensor w = vec({1, 2}).set_requires_grad();
  Tensor x = vec({3, 4});  // data: saved by MulBackward for w's gradient
  Tensor loss = sum(w * x);
  x.mul_(2.0);
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("MulBackward was modified in place"),
                       Error);
  // a view shares the version counter with its base
  Tensor y = vec({3, 4});
  Tensor loss2 = sum(w * y.slice(0, 0, 2));
  y.fill_(0);
  CHECK_THROWS_AS(loss2.backward(), Error);
}

TEST_CASE("in-place ops on tensors that require grad are refused while recording") {
  Tensor w = vec({1, 2}).set_requires_grad();
  CHECK_THROWS_WITH_AS(w.add_(vec({1, 1})), doctest::Contains("add_: in-place change"), Error);
  CHECK_THROWS_WITH_AS(w.zero_(), doctest::Contains("fill_: in-place change"), Error);
  {
    NoGradGuard no_grad;  // how optimisers update parameters
    w.add_(vec({1, 1}), -0.5);
  }
  CHECK(values(w) == std::vector<double>{0.5, 1.5});
}

TEST_CASE("a backward returning a wrongly shaped gradient is caught") {
  CustomFunction bad{"BadShape", [](const std::vector<Tensor>& in) { return in[0] * 2.0; },
                     [](const std::vector<Tensor>&, const Tensor&, const Tensor& g) {
                       return std::vector<Tensor>{sum(g, {0})};
                     }};
  Tensor x = zeros({2, 3}, DType::Float64).set_requires_grad();
  Tensor y = bad.apply({x});
  CHECK_THROWS_WITH_AS(sum(y).backward(),
                       doctest::Contains("BadShapeBackward returned a gradient of shape [3] for "
                                         "its input 0 of shape [2, 3]"),
                       Error);
}

namespace {
// A node whose backward returns what the test scripted, to break the engine's contract on
// purpose. It is recorded for out = 2 x + c, with x requiring a gradient and c not.
struct ScriptedBackward : Node {
  std::string label;
  std::vector<Tensor> grads;
  std::string name() const override { return label; }
  std::vector<Tensor> apply(std::vector<Tensor>&&) override { return grads; }
};

Tensor scripted(const std::string& label, const std::vector<Tensor>& grads, const Tensor& x,
                const Tensor& c) {
  Tensor out = x.detach() * 2.0 + c;
  if (auto node = make_node<ScriptedBackward>({x, c})) {
    node->label = label;
    node->grads = grads;
    set_history(out, node);
  }
  return out;
}
}  // namespace

TEST_CASE("a backward breaking the node contract is an error naming the node") {
  using doctest::Contains;
  Tensor x = zeros({2, 3}, DType::Float64).set_requires_grad();
  const Tensor c = zeros({2, 3}, DType::Float64);  // needs no gradient
  const Tensor ok = full({2, 3}, 2.0, DType::Float64);

  CHECK_THROWS_WITH_AS(sum(scripted("EmptyList", {}, x, c)).backward(),
                       Contains("backward: EmptyList returned 0 gradients for its 2 inputs"),
                       Error);
  CHECK_THROWS_WITH_AS(sum(scripted("Missing", {Tensor(), Tensor()}, x, c)).backward(),
                       Contains("backward: Missing returned no gradient for its input 0, which "
                                "requires one"),
                       Error);
  CHECK_THROWS_WITH_AS(
      sum(scripted("Elsewhere", {test::fake_cuda({2, 3}), Tensor()}, x, c)).backward(),
      Contains("backward: Elsewhere returned a gradient on cuda:0 for its input 0 on cpu"), Error);
  CHECK(!x.grad().defined());  // nothing reached the leaf

  // No gradient for the input that needs none is the contract, not a breach.
  sum(scripted("Fine", {ok, Tensor()}, x, c)).backward();
  CHECK(values(x.grad()) == std::vector<double>(6, 2.0));
}

TEST_CASE("gradcheck fails on a deliberately wrong backward and names the element") {
  // sigmoid with its derivative off by the factor (1 - y): y instead of y (1 - y)
  CustomFunction wrong{"WrongSigmoid", [](const std::vector<Tensor>& in) { return sigmoid(in[0]); },
                       [](const std::vector<Tensor>&, const Tensor& y, const Tensor& g) {
                         return std::vector<Tensor>{g * y};
                       }};
  CustomFunction right{"RightSigmoid", wrong.forward,
                       [](const std::vector<Tensor>&, const Tensor& y, const Tensor& g) {
                         return std::vector<Tensor>{g * y * (1.0 - y)};
                       }};
  Generator gen(3);
  Tensor x = randn({3, 4}, DType::Float64, &gen).set_requires_grad();
  const GradcheckReport bad = gradcheck([&](const std::vector<Tensor>& in) { return wrong.apply(in); }, {x});
  CHECK_FALSE(bad.ok);
  CHECK(bad.max_error > 1e-2);
  CHECK(bad.input == 0);
  CHECK(bad.index.size() == 2);
  CHECK(bad.summary().find("FAILED") != std::string::npos);
  const GradcheckReport good = gradcheck([&](const std::vector<Tensor>& in) { return right.apply(in); }, {x});
  CHECK(good.ok);
  CHECK(good.max_error < 1e-8);
}

TEST_CASE("gradcheck catches a gradient off by a few parts in ten million") {
  // Central differences in float64 are good to ~1e-9 here; an error of 5e-7 (which the old
  // absolute 1e-6 let through) is far above that noise.
  CustomFunction slightly_off{
      "SlightlyOff", [](const std::vector<Tensor>& in) { return in[0] * in[0]; },
      [](const std::vector<Tensor>& in, const Tensor&, const Tensor& g) {
        return std::vector<Tensor>{g * in[0] * (2.0 * (1 + 5e-7))};
      }};
  Generator gen(6);
  Tensor x = randn({3, 4}, DType::Float64, &gen).set_requires_grad();
  const GradcheckReport r =
      gradcheck([&](const std::vector<Tensor>& in) { return slightly_off.apply(in); }, {x});
  CHECK_FALSE(r.ok);
  CHECK(r.max_error > GradcheckOptions{}.tolerance);
  CHECK(r.max_error < 1e-5);
}

TEST_CASE("gradcheck fails a vacuous check: gradients that are ~0 everywhere prove nothing") {
  Generator gen(4);
  Tensor x = randn({3, 4}, DType::Float64, &gen).set_requires_grad();
  Tensor w = randn({4, 2}, DType::Float64, &gen).set_requires_grad();
  // The output does not depend on w: any backward for w, zeros included, would pass.
  auto ignores_w = [](const std::vector<Tensor>& in) { return tanh(in[0]) + sum(in[1]) * 0.0; };
  const GradcheckReport r = gradcheck(ignores_w, {x, w});
  CHECK_FALSE(r.ok);
  CHECK(r.vacuous_input == 1);
  CHECK(r.max_error < 1e-8);  // what was compared agreed
  CHECK(r.summary().find("vacuous") != std::string::npos);
  const GradcheckReport d = gradcheck_directional(
      [](const std::vector<Tensor>& in) { return in[0] * 0.0; }, {x});
  CHECK_FALSE(d.ok);
  CHECK(d.vacuous_input == 0);
  // Small but real gradients are not vacuous.
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return tanh(in[0]) * 1e-3; }, {x}).ok);
}

TEST_CASE("directional gradcheck: a few forward passes, and it also catches a wrong backward") {
  CustomFunction wrong{"WrongTanh", [](const std::vector<Tensor>& in) { return tanh(in[0]); },
                       [](const std::vector<Tensor>&, const Tensor& y, const Tensor& g) {
                         return std::vector<Tensor>{g * (1.0 - y)};  // should be 1 - y^2
                       }};
  Generator gen(8);
  Tensor x = randn({6, 5}, DType::Float64, &gen).set_requires_grad();
  Tensor w = randn({5, 4}, DType::Float64, &gen).set_requires_grad();
  int calls = 0;
  auto good = [&](const std::vector<Tensor>& in) {
    ++calls;
    return tanh(matmul(in[0], in[1]));
  };
  const GradcheckReport ok = gradcheck_directional(good, {x, w});
  CHECK(ok.ok);
  CHECK(calls == 5);  // one for the analytic gradient, four for the differences at h and h/2
  CHECK(ok.summary().find("along a random direction") != std::string::npos);
  auto bad = [&](const std::vector<Tensor>& in) { return wrong.apply({matmul(in[0], in[1])}); };
  const GradcheckReport caught = gradcheck_directional(bad, {x, w});
  CHECK_FALSE(caught.ok);
  CHECK(caught.max_error > 1e-3);
  // A kink just beside the input: the difference at eps straddles it, a smaller one does not.
  Tensor near = from_values({3e-7, -2e-7, 0.5}, {3}, DType::Float64).set_requires_grad();
  const GradcheckReport kink = gradcheck_directional(
      [](const std::vector<Tensor>& in) { return relu(in[0]) * 3.0; }, {near});
  CHECK(kink.ok);
}

TEST_CASE("NoGradGuard, detach and requires_grad") {
  Tensor x = vec({1, 2}).set_requires_grad();
  {
    NoGradGuard no_grad;
    Tensor y = x * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
  }
  CHECK((x * 2.0).requires_grad());
  Tensor d = x.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.storage() == x.storage());
  CHECK_FALSE((d * 2.0).requires_grad());
  Tensor z = x * 2.0;
  CHECK_THROWS_WITH_AS(z.set_requires_grad(false), doctest::Contains("only leaf tensors"), Error);
  CHECK_THROWS_WITH_AS(arange(3, DType::Int64).set_requires_grad(),
                       doctest::Contains("only float tensors"), Error);
}

TEST_CASE("retain_grad keeps a non-leaf's gradient, hooks see and may replace gradients") {
  Tensor x = vec({1, 2, 3}).set_requires_grad();
  Tensor h = x * 2.0;
  h.retain_grad();
  std::vector<double> seen;
  h.register_hook([&](const Tensor& g) {
    seen = values(g);
    return Tensor();
  });
  Tensor y = sum(h * h);
  y.backward();
  CHECK(values(h.grad()) == std::vector<double>{4, 8, 12});
  CHECK(seen == std::vector<double>{4, 8, 12});
  CHECK(values(x.grad()) == std::vector<double>{8, 16, 24});

  Tensor a = vec({1, 1}).set_requires_grad();
  a.register_hook([](const Tensor& g) { return g * 10.0; });  // leaf hook: scales what is stored
  Tensor b = a * 3.0;
  b.register_hook([](const Tensor& g) { return g + 1.0; });  // non-leaf hook: changes what flows
  sum(b).backward();
  CHECK(values(a.grad()) == std::vector<double>{60, 60});
}

TEST_CASE("a 200 000-op chain runs forward, backward and is destroyed without recursion") {
  constexpr int kSteps = 100000;  // two ops each
  constexpr double kFactor = 1.00001;
  Tensor x = vec({0.5}).set_requires_grad();
  Tensor y = x;
  for (int i = 0; i < kSteps; ++i) y = y * kFactor + 0.0;
  y.backward(vec({1}));
  // The gradient is the product of the factors, multiplied in the same order backward does.
  double expected = 1;
  for (int i = 0; i < kSteps; ++i) expected *= kFactor;
  CHECK(x.grad().item() == expected);
  y = Tensor();  // freeing the (released) chain must not overflow the stack either
}

TEST_CASE("a long chain whose nodes use their input twice is destroyed without recursion") {
  Tensor x = vec({1.0}).set_requires_grad();
  Tensor y = x;
  for (int i = 0; i < 200000; ++i) y = y * y;  // both edges of each node point at one child
  y = Tensor();  // would overflow the stack if each node destroyed its child itself
  CHECK(x.requires_grad());
}

TEST_CASE("hooks: a wrongly shaped replacement is an error, a kept gradient stays the hook's") {
  Tensor x = vec({1, 2}).set_requires_grad();
  Tensor h = exp(x);
  h.register_hook([](const Tensor& g) { return sum(g); });
  CHECK_THROWS_WITH_AS(sum(h).backward(),
                       doctest::Contains("a hook on an output of ExpBackward returned float64[]"),
                       Error);
  Tensor leaf = vec({1, 2}).set_requires_grad();
  leaf.register_hook([](const Tensor& g) { return g.reshape({1, 2}); });
  CHECK_THROWS_WITH_AS(sum(leaf * 3.0).backward(),
                       doctest::Contains("a hook on a leaf returned float64[1, 2]"), Error);

  Tensor w = vec({1, 2}).set_requires_grad();
  Tensor kept;
  w.register_hook([&](const Tensor& g) {
    kept = g;
    return Tensor();
  });
  sum(w * 3.0).backward();
  const std::vector<double> first = values(kept);
  sum(w * 5.0).backward();  // accumulating into w.grad must not write into the hook's tensor
  CHECK(values(w.grad()) == std::vector<double>{8, 8});
  CHECK(first == std::vector<double>{3, 3});
}

TEST_CASE("graphs with multiple paths run each node once, after all its consumers") {
  Tensor x = vec({1, 2}).set_requires_grad();
  Tensor a = x * 2.0, b = a * a, c = a + b, d = c * b;  // diamond-shaped dependencies
  sum(d).backward();
  // d = (a + a^2) a^2 = a^3 + a^4 with a = 2x, so dd/dx = 2 (3a^2 + 4a^3):
  for (int i = 0; i < 2; ++i) {
    const double av = 2.0 * (i + 1);
    const double dd_da = 3 * av * av + 4 * av * av * av;
    CHECK(x.grad().at({i}) == doctest::Approx(2 * dd_da));
  }
}

TEST_CASE("DOT export names ops, leaves and edges") {
  Tensor w = vec({1, 2}).set_requires_grad();
  w.set_name("w");
  Tensor x = vec({3, 4});
  Tensor y = sum(relu(w * x));
  const std::string dot = graph_to_dot(y);
  CHECK(dot.find("digraph autograd") != std::string::npos);
  CHECK(dot.find("SumBackward") != std::string::npos);
  CHECK(dot.find("ReluBackward") != std::string::npos);
  CHECK(dot.find("MulBackward") != std::string::npos);
  CHECK(dot.find("w\\nfloat64[2]") != std::string::npos);
  // Every line is a whole statement (a node or an edge), and the edges run output -> Sum ->
  // Relu -> Mul -> w, the way backward goes (x needs no gradient: no leaf for it).
  std::istringstream lines(dot);
  std::string line;
  std::getline(lines, line);
  CHECK(line == "digraph autograd {");
  const std::regex node(R"re(  (output|n\d+) \[label="([^"\\]*)[^"]*", shape=.*\];)re");
  const std::regex edge(R"re(  (output|n\d+) -> (n\d+);)re");
  std::map<std::string, std::string> label;
  std::set<std::pair<std::string, std::string>> edges;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (line == "}" || line == "  rankdir=BT;" || line.rfind("  node [", 0) == 0) continue;
    CAPTURE(line);
    if (std::regex_match(line, m, node)) {
      label[m[1]] = m[2];
    } else {
      REQUIRE(std::regex_match(line, m, edge));
      edges.emplace(m[1], m[2]);
    }
  }
  std::set<std::pair<std::string, std::string>> named;
  for (const auto& [from, to] : edges) named.emplace(label[from], label[to]);
  CHECK(named == std::set<std::pair<std::string, std::string>>{{"output", "SumBackward"},
                                                               {"SumBackward", "ReluBackward"},
                                                               {"ReluBackward", "MulBackward"},
                                                               {"MulBackward", "w"}});
}
