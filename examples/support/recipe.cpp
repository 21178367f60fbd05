#include "support/recipe.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "attention/register.h"
#include "engine/data/cifar.h"
#include "engine/data/idx.h"
#include "engine/data/image_folder.h"
#include "engine/data/transforms.h"
#include "layers/layers.h"

namespace fovea::train {

namespace {

namespace fs = std::filesystem;

// ---- data ------------------------------------------------------------------------------------

// The first n examples of a dataset (quick runs, tests).
class Prefix : public data::Dataset {
 public:
  Prefix(std::shared_ptr<const data::Dataset> base, int64_t n) : base_(std::move(base)), n_(n) {}
  int64_t size() const override { return n_; }
  data::Example get(int64_t i) const override { return base_->get(i); }
  data::Batch get_batch(const std::vector<int64_t>& indices,
                        data::EpochKey key = {}) const override {
    return base_->get_batch(indices, key);
  }
  int64_t num_classes() const override { return base_->num_classes(); }
  data::ImageShape image_shape() const override { return base_->image_shape(); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }

 private:
  std::shared_ptr<const data::Dataset> base_;
  int64_t n_;
};

std::shared_ptr<const data::Dataset> first(std::shared_ptr<const data::Dataset> d, int64_t n) {
  if (n <= 0 || n >= d->size()) return d;
  return std::make_shared<Prefix>(std::move(d), n);
}

std::string default_location(const std::string& dataset) {
  if (dataset == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  if (dataset == "mnist") return "/usr/share/datasets/mnist";
  FOVEA_FAIL("train: --dataset ", dataset, " needs --data PATH (the folder holding it)");
}

// Training examples through `augment` (normalised), or the source itself when there is none.
std::shared_ptr<const data::Dataset> augmented(std::shared_ptr<const data::ImageSource> source,
                                               const std::string& augment,
                                               const std::vector<double>& mean,
                                               const std::vector<double>& stddev) {
  data::Pipeline p = data::Pipeline::parse(augment == "none" ? "" : augment);
  p.normalize(mean, stddev);
  return std::make_shared<data::TransformedDataset>(std::move(source), std::move(p));
}

}  // namespace

Datasets load_datasets(const Config& c) {
  Datasets d;
  d.source = c.data.empty() ? default_location(c.dataset) : c.data;
  FOVEA_CHECK(fs::exists(d.source), "train: data path ", d.source, " does not exist",
              c.dataset == "fashion-mnist" && c.data.empty()
                  ? " (install Debian's dataset-fashion-mnist, or pass --data DIR)"
                  : "");
  if (c.dataset == "fashion-mnist" || c.dataset == "mnist" || c.dataset == "cifar10" ||
      c.dataset == "cifar100") {
    const bool idx = c.dataset == "fashion-mnist" || c.dataset == "mnist";
    auto load = [&](bool train) {
      if (c.dataset == "cifar10") return data::load_cifar10(d.source, train);
      if (c.dataset == "cifar100") return data::load_cifar100(d.source, train);
      return c.dataset == "mnist" ? data::load_mnist(d.source, train)
                                  : data::load_fashion_mnist(d.source, train);
    };
    auto train = load(true), test = load(false);
    const auto [mean, stddev] = train->channel_stats();
    train->set_normalization(mean, stddev);
    test->set_normalization(mean, stddev);
    d.mean = mean;
    d.stddev = stddev;
    d.augment = c.augment == "default" ? (idx ? "none" : "crop:32:4,flip") : c.augment;
    d.train = d.augment == "none" ? std::shared_ptr<const data::Dataset>(train)
                                  : augmented(train, d.augment, mean, stddev);
    d.test = test;
  } else if (c.dataset == "imagefolder") {
    const fs::path root(d.source);
    const fs::path test_root = fs::exists(root / "val") ? root / "val" : root / "test";
    FOVEA_CHECK(fs::is_directory(root / "train") && fs::is_directory(test_root), "train: ",
                d.source, " must hold train/<class>/* and val/<class>/* (or test/<class>/*)");
    data::ImageFolderOptions o;
    o.height = o.width = c.image_size;
    if (c.image_size == 0) {
      // Without --image-size every image is brought to the first one's (square) size, which is
      // a no-op for data sets of one size such as Tiny ImageNet.
      const data::ImageFolder probe((root / "train").string(), o);
      FOVEA_CHECK(probe.size() > 0, "train: ", (root / "train").string(), " holds no images");
      o.height = o.width = probe.shape_of(0)[1];
    }
    auto train = std::make_shared<data::ImageFolder>((root / "train").string(), o);
    auto test = std::make_shared<data::ImageFolder>(test_root.string(), o);
    FOVEA_CHECK(train->classes() == test->classes(), "train: the class folders of ",
                (root / "train").string(), " and ", test_root.string(), " differ");
    // ImageNet's channel statistics, as torchvision's ImageNet recipes normalise.
    const std::vector<double> mean{0.485, 0.456, 0.406}, stddev{0.229, 0.224, 0.225};
    d.mean = mean;
    d.stddev = stddev;
    const int64_t size = train->image_shape()[1];
    d.augment = c.augment == "default" ? "crop:" + std::to_string(size) + ":4,flip" : c.augment;
    d.train = augmented(train, d.augment, mean, stddev);
    d.test = augmented(test, "none", mean, stddev);
  } else {
    FOVEA_FAIL("train: unknown --dataset ", c.dataset,
               " (fashion-mnist, mnist, cifar10, cifar100, imagefolder)");
  }
  d.train = first(d.train, c.limit_train);
  d.test = first(d.test, c.limit_test);
  return d;
}

// ---- model, optimiser, schedule ---------------------------------------------------------------

Model make_model(const Config& c, const data::Dataset& d) {
  const auto [channels, h, w] = d.image_shape();
  const int64_t classes = d.num_classes();
  std::ostringstream desc;
  desc << c.model << "(in_channels=" << channels << ", num_classes=" << classes;
  Model m;
  if (c.model == "mlp") {
    FOVEA_CHECK(c.attention == "none", "train: --attention needs a ResNet, not the mlp");
    auto seq = std::make_shared<nn::Sequential>();
    seq->push_back(std::make_shared<nn::Flatten>());
    int64_t width = channels * h * w;
    for (int64_t hidden : c.hidden) {
      seq->push_back(std::make_shared<nn::Linear>(width, hidden));
      seq->push_back(std::make_shared<nn::ReLU>());
      width = hidden;
    }
    seq->push_back(std::make_shared<nn::Linear>(width, classes));
    m.net = seq;
    desc << ", input=" << channels * h * w << ", hidden=[";
    for (size_t i = 0; i < c.hidden.size(); ++i) desc << (i ? ", " : "") << c.hidden[i];
    desc << "])";
  } else if (c.model.rfind("resnet", 0) == 0) {
    const std::string digits = c.model.substr(6);
    FOVEA_CHECK(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos,
                "train: unknown --model ", c.model);
    const int depth = std::stoi(digits);
    attention::register_all();
    // The modules that size themselves by the map (FcaNet) get the input size. The ResNets take
    // one size for H = W; every dataset here is square, and a non-square one leaves the
    // networks to their default (resnet.h).
    const int64_t size = h == w ? h : 0;
    if (depth == 18 || depth == 34 || depth == 50) {
      m.net = nn::resnet(depth, classes, channels, c.stem, c.attention, size);
      desc << ", stem=" << c.stem;
    } else {
      FOVEA_CHECK(c.shortcut == "A" || c.shortcut == "B", "train: --shortcut must be A or B, got ",
                  c.shortcut);
      m.net = nn::cifar_resnet(depth, classes, channels,
                               c.shortcut == "A" ? nn::Shortcut::A : nn::Shortcut::B, c.attention,
                               size);
      desc << ", shortcut=" << c.shortcut;
    }
    desc << ", attention=" << c.attention << ")";
  } else {
    FOVEA_FAIL("train: unknown --model ", c.model,
               " (mlp, resnet20, resnet32, resnet44, resnet56, resnet110, resnet18, resnet34, resnet50)");
  }
  m.description = desc.str();
  return m;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const Config& c, const nn::Module& net) {
  std::vector<optim::ParamGroup> groups;
  if (c.no_decay_bias_norm)
    groups = nn::decay_groups(net, c.weight_decay);
  else
    groups = {optim::ParamGroup{net.parameters()}};
  if (c.optimizer == "sgd") {
    optim::SGDOptions o;
    o.lr = c.lr;
    o.momentum = c.momentum;
    o.weight_decay = c.weight_decay;
    o.nesterov = c.nesterov;
    return std::make_unique<optim::SGD>(groups, o);
  }
  if (c.optimizer == "adam" || c.optimizer == "adamw") {
    optim::AdamOptions o;
    o.lr = c.lr;
    o.weight_decay = c.weight_decay;
    if (c.optimizer == "adam") return std::make_unique<optim::Adam>(groups, o);
    optim::AdamWOptions w;
    w.lr = c.lr;
    w.weight_decay = c.weight_decay;
    return std::make_unique<optim::AdamW>(groups, w);
  }
  FOVEA_FAIL("train: unknown --optimizer ", c.optimizer, " (sgd, adam, adamw)");
}

optim::SchedulePtr make_schedule(const Config& c, int64_t steps_per_epoch) {
  const int64_t total = std::max<int64_t>(1, int64_t(c.epochs) * steps_per_epoch);
  const int64_t warmup = int64_t(std::llround(c.warmup_epochs * double(steps_per_epoch)));
  FOVEA_CHECK(warmup >= 0 && warmup < total, "train: --warmup ", c.warmup_epochs,
              " epochs must be shorter than the run (", c.epochs, " epochs)");
  optim::SchedulePtr main;
  if (c.schedule == "none") {
    main = std::make_shared<optim::StepLR>(total + 1, 1.0);
  } else if (c.schedule == "step") {
    main = std::make_shared<optim::StepLR>(std::max<int64_t>(1, (total - warmup) / 3), c.gamma);
  } else if (c.schedule == "multistep") {
    std::vector<int64_t> at;
    for (double f : c.milestones) {
      FOVEA_CHECK(f > 0 && f < 1, "train: --milestones are fractions of the run in (0, 1), got ", f);
      at.push_back(std::max<int64_t>(1, int64_t(f * double(total - warmup))));
    }
    main = std::make_shared<optim::MultiStepLR>(at, c.gamma);
  } else if (c.schedule == "cosine") {
    main = std::make_shared<optim::CosineAnnealingLR>(total - warmup);
  } else if (c.schedule == "onecycle") {
    FOVEA_CHECK(warmup == 0, "train: onecycle has its own warm-up; drop --warmup");
    return std::make_shared<optim::OneCycleLR>(total);
  } else {
    FOVEA_FAIL("train: unknown --schedule ", c.schedule, " (none, step, multistep, cosine, onecycle)");
  }
  return warmup > 0 ? optim::warmup_then(warmup, 0.1, main) : main;
}

}  // namespace fovea::train
