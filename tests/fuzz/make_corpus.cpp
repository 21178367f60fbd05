// Writes the seed corpora of the fuzz targets: a few small valid files per target (and a few
// near misses), made with fovea's own writers, zlib and stb_image_write, so that no third-party
// data is needed and the seeds follow the formats as fovea writes them.
//
//   build-fuzz/tests/fuzz/fuzz_make_corpus tests/fuzz/corpus
//
// rewrites corpus/<target>/seed-* (other files there are kept). The output is deterministic.
#include <stb/stb_image_write.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "engine/data/idx.h"
#include "engine/io/safetensors.h"
#include "tiny_model.h"

namespace {

using namespace fovea;
namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

fs::path g_root;

void write(const std::string& target, const std::string& name, const Bytes& bytes) {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream f(dir / ("seed-" + name), std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + (dir / name).string());
}

Bytes read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes pattern(size_t n, int mul) {
  Bytes v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i * mul + 3);
  return v;
}

Bytes idx(const std::vector<uint32_t>& dims, const Bytes& data) {
  Bytes out{0, 0, 8, uint8_t(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(uint8_t(d >> shift));
  return cat(out, data);
}

Bytes gzip(const Bytes& data) {
  Bytes out(compressBound(uLong(data.size())) + 32);
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  z.next_in = const_cast<Bytef*>(data.data());
  z.avail_in = uInt(data.size());
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// fuzz_idx: the first byte 0 writes the rest as is, 1 gzips it first.
void idx_seeds() {
  const Bytes images = idx({2, 4, 3}, pattern(24, 7)), labels = idx({5}, {0, 1, 2, 9, 4});
  write("fuzz_idx", "images", cat({0}, images));
  write("fuzz_idx", "labels", cat({0}, labels));
  write("fuzz_idx", "images.gz", cat({0}, gzip(images)));
  write("fuzz_idx", "images-to-gzip", cat({1}, images));
  write("fuzz_idx", "empty-to-gzip", cat({1}, idx({0, 28, 28}, {})));
}

// fuzz_cifar: the first byte picks CIFAR-10 (0), CIFAR-100 fine (1) or coarse (2).
void cifar_seeds() {
  const Bytes pixels = pattern(3072, 5);
  write("fuzz_cifar", "cifar10-1", cat({0, 7}, pixels));
  write("fuzz_cifar", "cifar10-2", cat(cat({0, 3}, pixels), cat({9}, pattern(3072, 11))));
  write("fuzz_cifar", "cifar100-fine", cat({1, 19, 99}, pixels));
  write("fuzz_cifar", "cifar100-coarse", cat({2, 4, 42}, pixels));
}

void append_to(void* context, void* data, int size) {
  auto* out = static_cast<Bytes*>(context);
  out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

// A GIF of 2-colour pixels whose LZW stream sends a clear code before every pixel, so the code
// size stays at 3 bits and no table is needed.
Bytes gif(int w, int h) {
  Bytes out = {'G', 'I', 'F', '8', '9', 'a', uint8_t(w), 0, uint8_t(h), 0, 0x80, 0, 0,
               0, 0, 0, 255, 255, 255,  // the global colour table: black, white
               0x2C, 0, 0, 0, 0, uint8_t(w), 0, uint8_t(h), 0, 0, 2};
  Bytes lzw;
  uint32_t acc = 0;
  int bits = 0;
  auto put = [&](uint32_t code) {
    acc |= code << bits;
    for (bits += 3; bits >= 8; bits -= 8, acc >>= 8) lzw.push_back(uint8_t(acc));
  };
  for (int i = 0; i < w * h; ++i) {
    put(4);  // clear
    put(uint32_t((i * 7 / 3) & 1));
  }
  put(5);  // end of information
  if (bits > 0) lzw.push_back(uint8_t(acc));
  out.push_back(uint8_t(lzw.size()));
  out = cat(out, lzw);
  return cat(out, {0, 0x3B});
}

Bytes pnm(const std::string& magic, int w, int h, int channels) {
  const std::string header = magic + "\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n";
  return cat(Bytes(header.begin(), header.end()), pattern(size_t(w * h * channels), 29));
}

// fuzz_image: the first byte's bit 0 asks for one channel, bit 1 for a resize.
void image_seeds() {
  const int w = 4, h = 3;
  const Bytes rgb = pattern(w * h * 3, 29), rgba = pattern(w * h * 4, 13), gray = pattern(w * h, 3);
  auto stb = [&](const std::string& name, uint8_t options, auto&& writer) {
    Bytes bytes;
    if (!writer(&bytes)) throw std::runtime_error("stb_image_write failed for " + name);
    write("fuzz_image", name, cat({options}, bytes));
  };
  stb("rgb.png", 0, [&](Bytes* o) { return stbi_write_png_to_func(append_to, o, w, h, 3, rgb.data(), 0); });
  stb("rgba.png", 1, [&](Bytes* o) { return stbi_write_png_to_func(append_to, o, w, h, 4, rgba.data(), 0); });
  stb("gray.png", 2, [&](Bytes* o) { return stbi_write_png_to_func(append_to, o, w, h, 1, gray.data(), 0); });
  stb("rgb.jpg", 0, [&](Bytes* o) { return stbi_write_jpg_to_func(append_to, o, w, h, 3, rgb.data(), 90); });
  stb("gray.jpg", 3, [&](Bytes* o) { return stbi_write_jpg_to_func(append_to, o, w, h, 1, gray.data(), 75); });
  stb("rgb.bmp", 0, [&](Bytes* o) { return stbi_write_bmp_to_func(append_to, o, w, h, 3, rgb.data()); });
  stb("rgba.tga", 2, [&](Bytes* o) { return stbi_write_tga_to_func(append_to, o, w, h, 4, rgba.data()); });
  write("fuzz_image", "gray.pgm", cat({1}, pnm("P5", w, h, 1)));
  write("fuzz_image", "rgb.ppm", cat({0}, pnm("P6", w, h, 3)));
  write("fuzz_image", "bw.gif", cat({0}, gif(w, h)));
}

void safetensors_seeds() {
  const std::string tmp = (g_root / "tmp.safetensors").string();
  auto save = [&](const std::string& name, const io::NamedTensors& tensors,
                  const std::map<std::string, std::string>& meta) {
    io::save_safetensors(tmp, tensors, meta);
    write("fuzz_safetensors", name, read(tmp));
    fs::remove(tmp);
  };
  Generator gen(3);
  save("mixed", {{"weight", randn({2, 3}, DType::Float32, &gen)},
                 {"counts", from_vector(std::vector<int64_t>{4, -1}, {2})},
                 {"scale", full({}, 0.5, DType::Float64)}},
       {{"format", "pt"}, {"note", "seed"}});
  save("empty-tensor", {{"a", empty({0, 3})}, {"b", randn({4}, DType::Float64, &gen)}}, {});
  save("single", {{"x", randn({3, 1, 2}, DType::Float32, &gen)}}, {});
}

// Version 1 checkpoints carry no checksum (checkpoint.h), so mutations of them reach every field
// check; the checksummed ones of today's format mostly stop at the checksum.
void checkpoint_seeds() {
  const std::string tmp = (g_root / "tmp.safetensors").string();
  auto keep = [&](const std::string& name) {
    write("fuzz_checkpoint", name, read(tmp));
    fs::remove(tmp);
  };
  // Rewrites the checkpoint at tmp as format_version 1, with `tensors` when given.
  auto keep_version1 = [&](const std::string& name, const io::NamedTensors* tensors = nullptr) {
    io::SafetensorsFile f = io::load_safetensors(tmp);
    f.metadata.erase("checksum");
    f.metadata["format_version"] = "1";
    io::save_safetensors(tmp, tensors ? *tensors : f.tensors, f.metadata);
    keep(name);
  };
  nn::TrainingState state;
  state.epoch = 2;
  state.step = 7;
  state.model_desc = fuzz::kTinyModelDesc;
  state.rng = {{"default", Generator(5).state()}};
  state.extra = {{"best_accuracy", 0.5}, {"history", {1.5, 0.75}}};

  auto model = fuzz::make_tiny_model();
  auto opt = fuzz::make_tiny_optimizer(*model);
  // One step with made-up gradients, so that the optimiser has momentum buffers to save.
  for (Tensor& p : model->parameters()) p.set_grad(ones_like(p));
  opt->step();
  nn::save_checkpoint(tmp, *model, opt.get(), state);
  keep("with-optimizer");
  nn::save_checkpoint(tmp, *model, opt.get(), state);
  keep_version1("with-optimizer-v1");
  nn::save_checkpoint(tmp, *model, nullptr, state);
  keep_version1("model-only-v1");

  nn::TrainingState other = state;
  other.model_desc = "mlp(in=6, hidden=4, out=3, bn=true)";
  nn::save_checkpoint(tmp, *fuzz::make_tiny_model(4), nullptr, other);
  keep("other-model");

  // The right names and metadata with float64 weights.
  io::NamedTensors f64;
  for (const auto& [key, t] : model->state_dict())
    f64.emplace_back("model." + key, t.dtype() == DType::Float32 ? t.to(DType::Float64) : t);
  nn::save_checkpoint(tmp, *model, nullptr, state);
  keep_version1("float64-weights-v1", &f64);
}

void augment_seeds() {
  const std::vector<std::pair<std::string, std::string>> specs = {
      {"crop-flip", "crop:32:4,flip"}, {"rrc-flip", "rrc:56,flip"},
      {"rrc-scale", "rrc:24:0.25:1"},  {"center-resize", "center:20,resize:16x12"},
      {"resize", "resize:8"},          {"none", "none"},
      {"flip-p", "hflip:0.3,random_crop:28"}};
  for (const auto& [name, spec] : specs) write("fuzz_augment", name, Bytes(spec.begin(), spec.end()));
}

void attention_seeds() {
  const std::vector<std::pair<std::string, std::string>> specs = {
      {"se", "se"},
      {"se-bias", "se:reduction=4,bias=true"},
      {"cbam", "cbam:reduction_ratio=8,pool_types=avg+max+lp+lse"},
      {"cbam-no-spatial", "cbam:no_spatial=true"},
      {"cbam-residual", "cbam_residual:kernel_size=3,spatial_bn=true,conv_bias=false"},
      {"bam", "bam:reduction_ratio=4,combine=prod"},
      {"eca", "eca:k_size=5"},
      {"sa", "sa:groups=4"},
      {"sge", "sge:groups=8,xmu_init=true"},
      {"ca", "ca:reduction=4"},
      {"gam", "gam:spatial_groups=2,shuffle=out"},
      {"fca", "fca:reduction=4,dct_size=fixed7"},
      {"triplet", "triplet:no_spatial=true"},
      {"none", "none"}};
  for (const auto& [name, spec] : specs)
    write("fuzz_attention", name, Bytes(spec.begin(), spec.end()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " CORPUS_DIR (e.g. tests/fuzz/corpus)\n";
    return 2;
  }
  g_root = argv[1];
  try {
    idx_seeds();
    cifar_seeds();
    image_seeds();
    safetensors_seeds();
    checkpoint_seeds();
    augment_seeds();
    attention_seeds();
  } catch (const std::exception& e) {
    std::cerr << "fuzz_make_corpus: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
