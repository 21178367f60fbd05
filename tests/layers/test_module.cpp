// Module: PyTorch naming, registration rules, state_dict round trips and load errors, train/eval
// propagation, zero_grad, parameter replacement and printing.
#include <doctest/doctest.h>

#include <sstream>

#include "layers/layers.h"

using namespace fovea;
using nn::Module;

namespace {

// A module with its own parameter and buffer, a direct child and a Sequential of children.
class Net : public Module {
 public:
  Net()
      : Module("Net"),
        fc1(register_module("fc1", std::make_shared<nn::Linear>(3, 4))),
        scale(register_parameter("scale", ones({4}))),
        head(register_module("head", std::make_shared<nn::Sequential>(
                                         std::initializer_list<std::shared_ptr<Module>>{
                                             std::make_shared<nn::ReLU>(),
                                             std::make_shared<nn::Linear>(4, 2)}))),
        counter(register_buffer("counter", zeros({1}))) {}
  Tensor forward(const Tensor& x) override { return head->forward(fc1->forward(x) * scale); }

  std::shared_ptr<nn::Linear> fc1;
  Tensor& scale;
  std::shared_ptr<nn::Sequential> head;
  Tensor& counter;
};

std::vector<std::string> names(const std::vector<std::pair<std::string, Tensor>>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) out.push_back(item.first);
  return out;
}

std::string repr(const Module& m) {
  std::ostringstream os;
  os << m;
  return os.str();
}

}  // namespace

TEST_CASE("Module: dotted names, registration order, parameters before buffers") {
  Net net;
  CHECK(names(net.named_parameters()) ==
        std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "head.1.weight", "head.1.bias"});
  CHECK(names(net.named_buffers()) == std::vector<std::string>{"counter"});
  CHECK(net.state_dict().keys() == std::vector<std::string>{"scale", "counter", "fc1.weight",
                                                            "fc1.bias", "head.1.weight",
                                                            "head.1.bias"});
  std::vector<std::string> modules;
  for (const auto& [name, m] : net.named_modules()) modules.push_back(name + ":" + m->type_name());
  CHECK(modules == std::vector<std::string>{":Net", "fc1:Linear", "head:Sequential", "head.0:ReLU",
                                            "head.1:Linear"});
  CHECK(net.named_children().size() == 2);
  CHECK(net.num_parameters() == 4 + 12 + 4 + 8 + 2);
  // parameters are leaves that require grad; buffers do not; handles name the registered slot
  for (const Tensor& p : net.parameters()) CHECK((p.is_leaf() && p.requires_grad()));
  CHECK(!net.counter.requires_grad());
  CHECK(net.parameters()[0].same(net.scale));
  CHECK(net.parameters()[1].same(net.fc1->weight));
}

TEST_CASE("Module: registration refuses bad and duplicate names") {
  Net net;
  CHECK_THROWS_WITH_AS(net.register_parameter("fc1", ones({1})),
                       doctest::Contains("Net: cannot register parameter \"fc1\": the name is already taken"),
                       Error);
  CHECK_THROWS_WITH_AS(net.register_buffer("scale", ones({1})),
                       doctest::Contains("already taken"), Error);
  CHECK_THROWS_WITH_AS(net.register_module("counter", std::make_shared<nn::ReLU>()),
                       doctest::Contains("already taken"), Error);
  CHECK_THROWS_WITH_AS(net.register_parameter("a.b", ones({1})),
                       doctest::Contains("names must be non-empty and contain no '.'"), Error);
  CHECK_THROWS_WITH_AS(net.register_parameter("", ones({1})), doctest::Contains("non-empty"), Error);
  CHECK_THROWS_WITH_AS(net.register_parameter("idx", zeros({2}, DType::Int64)),
                       doctest::Contains("parameter \"idx\" must be float32 or float64"), Error);
  CHECK_THROWS_WITH_AS(net.register_module("none", std::shared_ptr<Module>()),
                       doctest::Contains("it is null"), Error);
  CHECK_THROWS_WITH_AS(Module("Plain").forward(ones({1})),
                       doctest::Contains("Plain: forward(x) is not implemented"), Error);
}

TEST_CASE("Module: a parameter built from other tensors becomes a leaf") {
  Module m("M");
  Tensor base = ones({2}).set_requires_grad();
  Tensor& p = m.register_parameter("p", base * 2.0);
  CHECK(p.is_leaf());
  CHECK(p.requires_grad());
  CHECK(p.to_vector<float>() == std::vector<float>{2, 2});
}

TEST_CASE("Module: tied parameters are listed once, but saved under every name") {
  auto a = std::make_shared<nn::Linear>(2, 2);
  nn::Sequential seq{a, a};
  CHECK(names(seq.named_parameters()) == std::vector<std::string>{"0.weight", "0.bias"});
  CHECK(seq.state_dict().keys() ==
        std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"});
}

TEST_CASE("Module: state_dict round trip reproduces the outputs and keeps handles valid") {
  manual_seed(1);
  Net a;
  manual_seed(2);
  Net b;
  Tensor x = randn({5, 3});
  CHECK(a.forward(x).to_vector<float>() != b.forward(x).to_vector<float>());
  {
    NoGradGuard no_grad;
    a.counter.fill_(7);
  }
  const Tensor weight_before = b.fc1->weight;
  const nn::LoadResult r = b.load_state_dict(a.state_dict());
  CHECK(r.missing_keys.empty());
  CHECK(r.unexpected_keys.empty());
  CHECK(a.forward(x).to_vector<float>() == b.forward(x).to_vector<float>());
  CHECK(b.counter.item() == 7);
  CHECK(b.fc1->weight.same(weight_before));  // copied in place
  CHECK(b.fc1->weight.requires_grad());
  CHECK(b.fc1->weight.storage() != a.fc1->weight.storage());  // b owns its memory
  // state_dict tensors are detached views of the module's own storage
  const nn::StateDict sd = a.state_dict();
  CHECK(!sd.at("fc1.weight").requires_grad());
  CHECK(sd.at("fc1.weight").storage() == a.fc1->weight.storage());
}

TEST_CASE("Module: load_state_dict names missing and unexpected keys, and mismatched tensors") {
  Net net;
  nn::StateDict full = net.state_dict();

  nn::StateDict partial;  // everything but fc1.bias and counter, plus an extra key
  for (const auto& [k, v] : full)
    if (k != "fc1.bias" && k != "counter") partial.insert(k, v);
  partial.insert("fc9.weight", ones({1}));
  CHECK_THROWS_WITH_AS(net.load_state_dict(partial),
                       doctest::Contains("Net.load_state_dict: the state dict does not match the "
                                         "module; missing keys: \"counter\", \"fc1.bias\"; "
                                         "unexpected keys: \"fc9.weight\""),
                       Error);
  const nn::LoadResult r = net.load_state_dict(partial, /*strict=*/false);
  CHECK(r.missing_keys == std::vector<std::string>{"counter", "fc1.bias"});
  CHECK(r.unexpected_keys == std::vector<std::string>{"fc9.weight"});

  // a mismatch is an error even when not strict, and nothing is copied before the checks pass
  nn::StateDict wrong_shape;
  wrong_shape.insert("scale", full.at("scale").clone());
  wrong_shape.insert("fc1.weight", zeros({4, 5}));
  const std::vector<float> scale_before = net.scale.to_vector<float>();
  CHECK_THROWS_WITH_AS(net.load_state_dict(wrong_shape, false),
                       doctest::Contains("Net.load_state_dict: shape mismatch for \"fc1.weight\": "
                                         "the state dict has [4, 5], the module has [4, 3]"),
                       Error);
  nn::StateDict wrong_dtype;
  wrong_dtype.insert("fc1.weight", zeros({4, 3}, DType::Float64));
  CHECK_THROWS_WITH_AS(net.load_state_dict(wrong_dtype, false),
                       doctest::Contains("dtype mismatch for \"fc1.weight\": the state dict has "
                                         "float64, the module has float32"),
                       Error);
  CHECK(net.scale.to_vector<float>() == scale_before);

  CHECK_THROWS_WITH_AS(full.insert("scale", ones({4})), doctest::Contains("duplicate key \"scale\""),
                       Error);
  CHECK_THROWS_WITH_AS(full.at("nope"), doctest::Contains("StateDict: no key \"nope\""), Error);
}

TEST_CASE("Module: train and eval reach every descendant") {
  Net net;
  auto modes = [&] {
    std::vector<bool> out;
    for (const auto& [name, m] : net.named_modules()) out.push_back(m->is_training());
    return out;
  };
  CHECK(modes() == std::vector<bool>(5, true));
  net.eval();
  CHECK(modes() == std::vector<bool>(5, false));
  net.head->train();
  CHECK(modes() == std::vector<bool>{false, false, true, true, true});
  net.train(true);
  CHECK(modes() == std::vector<bool>(5, true));
}

TEST_CASE("Module: zero_grad clears every parameter's gradient") {
  Net net;
  sum(net.forward(randn({2, 3}))).backward();
  for (const Tensor& p : net.parameters()) CHECK(p.grad().defined());
  net.zero_grad();
  for (const Tensor& p : net.parameters()) CHECK(!p.grad().defined());
}

TEST_CASE("Module: replace_parameter swaps the tensor the layer uses") {
  Net net;
  Tensor w = zeros({2, 4}).set_requires_grad();
  net.replace_parameter("head.1.weight", w);
  auto lin = std::dynamic_pointer_cast<nn::Linear>((*net.head)[1]);
  REQUIRE(lin);
  CHECK(lin->weight.same(w));
  CHECK(net.named_parameters()[3].second.same(w));
  CHECK_THROWS_WITH_AS(net.replace_parameter("head.1.weight", zeros({4, 2})),
                       doctest::Contains("Net.replace_parameter: \"head.1.weight\" is float32[2, 4]"),
                       Error);
  CHECK_THROWS_WITH_AS(net.replace_parameter("head.7.weight", w),
                       doctest::Contains("no parameter \"head.7.weight\""), Error);
}

TEST_CASE("Module: printing follows PyTorch's repr") {
  Net net;
  CHECK(repr(*net.fc1) == "Linear(in_features=3, out_features=4, bias=True)");
  CHECK(repr(net) ==
        "Net(\n"
        "  (fc1): Linear(in_features=3, out_features=4, bias=True)\n"
        "  (head): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Linear(in_features=4, out_features=2, bias=True)\n"
        "  )\n"
        ")");
  CHECK(repr(nn::Flatten()) == "Flatten(start_dim=1, end_dim=-1)");
  CHECK(repr(nn::Linear(2, 3, false)) == "Linear(in_features=2, out_features=3, bias=False)");
}
