#include "engine/core/random.h"

#include <cmath>
#include <sstream>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"

namespace fovea {

namespace {
uint64_t splitmix64(uint64_t& x) { return mix64(x += 0x9e3779b97f4a7c15ULL); }
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void Generator::manual_seed(uint64_t seed) {
  for (uint64_t& w : s_) w = splitmix64(seed);
  has_spare_ = false;
}

uint64_t Generator::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Generator::uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = 0;
  while (u1 <= 0) u1 = uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * M_PI * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * M_PI * u2);
}

int64_t Generator::randint(int64_t n) {
  FOVEA_CHECK(n > 0, "Generator::randint: n must be positive, got ", n);
  const uint64_t un = uint64_t(n);
  const uint64_t limit = UINT64_MAX - UINT64_MAX % un;  // reject the biased tail
  uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return int64_t(x % un);
}

std::string Generator::state() const {
  std::ostringstream os;
  os.precision(17);
  os << s_[0] << ' ' << s_[1] << ' ' << s_[2] << ' ' << s_[3] << ' ' << has_spare_ << ' '
     << spare_;
  return os.str();
}

void Generator::set_state(const std::string& text) {
  std::istringstream is(text);
  Generator g;
  is >> g.s_[0] >> g.s_[1] >> g.s_[2] >> g.s_[3] >> g.has_spare_ >> g.spare_;
  FOVEA_CHECK(!is.fail(), "Generator::set_state: cannot parse state \"", text, "\"");
  *this = g;
}

Generator& default_generator() {
  static Generator g;
  return g;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

namespace {
template <typename Draw>
Tensor& fill_random(Tensor& t, const char* op, Draw draw) {
  check_float(t, op);
  check_inplace(t, op);
  // The draws come from the sequential generator on the host; a device tensor (or a strided
  // one) is filled through a contiguous host copy, so it gets exactly the CPU's values.
  Tensor c = t.is_contiguous() && t.device().is_cpu() ? t : empty(t.shape(), t.dtype());
  FOVEA_DISPATCH_FLOAT(t.dtype(), op, [&] {
    scalar_t* p = c.data<scalar_t>();
    for (int64_t i = 0, n = c.numel(); i < n; ++i) p[i] = static_cast<scalar_t>(draw());
  });
  if (!c.same(t)) {
    NoGradGuard no_grad;
    t.copy_(c);
  } else {
    t.storage()->bump_version();
  }
  return t;
}
}  // namespace

Tensor& uniform_(Tensor& t, double low, double high, Generator* gen) {
  FOVEA_CHECK(low <= high, "uniform_: low ", low, " exceeds high ", high);
  Generator& g = gen ? *gen : default_generator();
  return fill_random(t, "uniform_", [&] { return low + (high - low) * g.uniform(); });
}

Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  FOVEA_CHECK(std >= 0, "normal_: std must be non-negative, got ", std);
  Generator& g = gen ? *gen : default_generator();
  return fill_random(t, "normal_", [&] { return mean + std * g.normal(); });
}

Tensor rand(const Shape& shape, DType dtype, Generator* gen) {
  Tensor t = empty(shape, dtype);
  return uniform_(t, 0.0, 1.0, gen);
}

Tensor randn(const Shape& shape, DType dtype, Generator* gen) {
  Tensor t = empty(shape, dtype);
  return normal_(t, 0.0, 1.0, gen);
}

Tensor randperm(int64_t n, Generator* gen) {
  FOVEA_CHECK(n >= 0, "randperm: n must be non-negative, got ", n);
  Generator& g = gen ? *gen : default_generator();
  Tensor t = arange(0, double(n), 1, DType::Int64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[g.randint(i + 1)]);
  return t;
}

}  // namespace fovea
