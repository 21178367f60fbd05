// The epoch plan: the batch order of one epoch and every random parameter of every example in
// it, for replaying fovea's exact data stream elsewhere (a PyTorch comparison script) and for
// checking that a resumed run repeats it.
//
// write_epoch_plan writes JSON (one object):
//   "format": "fovea-epoch-plan", "version": 1,
//   "seed", "epoch", "dataset_size", "batch_size", "num_batches": integers,
//   "shuffle", "drop_last": booleans,
//   "order": [num_examples dataset indices in visiting order; batch b is
//             order[b * batch_size : (b + 1) * batch_size]],
//   "pipeline": [each step's settings, as Transform::describe(): {"name": "random_crop",
//                "size": [32, 32], "padding": 4}, ...; [] without a TransformedDataset],
//   "normalize": {"mean": [...], "std": [...]}   (units of byte / 255; absent without one),
//   "params": [one object per pipeline step, its arrays aligned with "order":
//     box steps (random_crop, random_resized_crop, center_crop):
//       {"name": ..., "top": [...], "left": [...], "height": [...], "width": [...]}
//     horizontal_flip: {"name": ..., "flip": [0 or 1, ...]}
//     resize: {"name": ...}]
// Boxes are in the step's input image, for torchvision's F.crop / F.resized_crop (transforms.h
// explains the conventions). Step s of the example at position k of the epoch received
// params[s] field[k]. A replay in Python (torchvision.transforms.functional as F, PIL images):
//
//   for k, index in enumerate(plan["order"]):
//       img = image_of(index)          # record `index` of the concatenated CIFAR files, or
//       for step, p in zip(plan["pipeline"], plan["params"]):   # ImageFolder's samples[index]
//           name = step["name"]
//           if name in ("random_crop", "center_crop"):
//               img = F.crop(img, p["top"][k], p["left"][k], p["height"][k], p["width"][k])
//           elif name == "random_resized_crop":
//               img = F.resized_crop(img, p["top"][k], p["left"][k], p["height"][k],
//                                    p["width"][k], step["size"], F.InterpolationMode.BILINEAR)
//           elif name == "horizontal_flip" and p["flip"][k]:
//               img = F.hflip(img)
//           elif name == "resize":
//               img = F.resize(img, step["size"], F.InterpolationMode.BILINEAR)
//       x = F.normalize(F.to_tensor(img), plan["normalize"]["mean"], plan["normalize"]["std"])
#pragma once

#include <string>
#include <vector>

#include "engine/data/loader.h"
#include "engine/data/transforms.h"

namespace fovea::data {

struct EpochPlan {
  uint64_t seed = 0;
  int64_t epoch = 0, dataset_size = 0, batch_size = 0, num_batches = 0;
  bool shuffle = false, drop_last = false;
  std::vector<int64_t> order;  // the num_examples() indices the epoch visits, in order
  // Set when the loader's dataset is a TransformedDataset, else empty:
  std::vector<std::shared_ptr<const Transform>> steps;
  std::vector<std::vector<Params>> params;  // params[k][s]: step s of the example order[k]
  std::vector<double> mean, std;
};

// The plan of epoch `epoch` of `loader` (of any epoch: the loader's own counter is untouched).
EpochPlan epoch_plan(const DataLoader& loader, int64_t epoch);

// The plan as the JSON above.
std::string epoch_plan_json(const EpochPlan& plan);
void write_epoch_plan(const EpochPlan& plan, const std::string& path);

}  // namespace fovea::data
