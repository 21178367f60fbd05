#include "support/zoo.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "attention/register.h"
#include "engine/core/cpu_allocator.h"
#include "engine/core/error.h"
#include "engine/fovea.h"
#include "engine/io/atomic_file.h"
#include "layers/attention_slot.h"
#include "support/plot.h"
#include "support/recipe.h"

namespace fovea::zoo {

namespace fs = std::filesystem;

namespace {

const char* kHeader =
    "module,attention,params,macs_per_image,train_images_per_s,peak_tensor_mib,test_acc,"
    "epochs,torch_images_per_s,status";

// The attention the trainer gets: "none", the name with its CIFAR options (attention/register.h),
// or the caller's own "name:options".
std::string attention_of(const std::string& module) {
  if (module == "none" || module.find(':') != std::string::npos) return module;
  return attention::cifar_name(module);
}

// A folder name for a module ("sa:groups=4" -> "sa_groups=4").
std::string folder_of(const std::string& module) {
  std::string f = module;
  std::replace(f.begin(), f.end(), ':', '_');
  std::replace(f.begin(), f.end(), ',', '_');
  return f;
}

// Parameters, and MACs of one forward of one image (eval mode, no autograd).
void count_model(const train::Config& c, const data::Dataset& d, Row& row) {
  const train::Model m = train::make_model(c, d);
  for (const Tensor& p : m.net->parameters()) row.params += p.numel();
  m.net->eval();
  const data::ImageShape s = d.image_shape();
  NoGradGuard no_grad;
  MacCounter counter;
  (*m.net)(zeros({1, s[0], s[1], s[2]}));
  row.macs = counter.macs();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Row train_one(const Options& o, const train::Datasets& data, const std::string& module,
              std::ostream& log) {
  Row row;
  row.module = module;
  row.attention = attention_of(module);
  train::Config c = o.base;
  c.attention = row.attention;
  c.out = (fs::path(o.out) / folder_of(module)).string();
  c.quiet = true;
  if (fs::exists(fs::path(c.out) / "checkpoint.safetensors")) c.resume = c.out;
  log << "== " << module << " (" << row.attention << ")"
      << (c.resume.empty() ? "" : ", resumed from " + c.out) << "\n";
  try {
    count_model(c, *data.train, row);
    const train::Result r = train::run(c, data, log);
    std::vector<double> throughput;
    int64_t peak = 0;  // from every epoch's record, resumed ones included
    for (const auto& h : r.history) {
      throughput.push_back(h.images_per_second);
      peak = std::max(peak, h.peak_tensor_bytes);
    }
    row.images_per_second = median(throughput);
    row.peak_mib = double(peak) / double(1 << 20);
    row.test_acc = r.total > 0 ? 100.0 * double(r.correct) / double(r.total) : 0;
    row.epochs = int(r.history.size());
  } catch (const Error& e) {
    row.status = e.what();
    log << module << ": " << row.status << "\n";
  }
  // The blocks this module freed are sizes the next one may never ask for (SAGAN's and MHSA's
  // score matrices are GiBs); the next module starts from an empty cache.
  cpu_allocator().empty_cache();
  return row;
}

// PyTorch's training images/s for each row without one, from the script's last output line:
// a JSON object {"module": images_per_second, ...}.
void time_torch(const Options& o, std::vector<Row>& rows, std::ostream& log) {
  std::string modules;
  for (const Row& r : rows)
    if (r.torch_images_per_second < 0 && r.status == "ok")
      modules += (modules.empty() ? "" : " ") + r.attention;
  if (modules.empty()) return;
  const std::string command = "/usr/bin/python3 '" + o.torch_script + "' --batch-size " +
                              std::to_string(o.base.batch_size) + " --modules " + modules;
  log << "== PyTorch: " << command << "\n";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  FOVEA_CHECK(pipe != nullptr, "attention_zoo: cannot run ", command);
  std::string last;
  char line[4096];
  while (std::fgets(line, sizeof line, pipe.get())) {
    log << line;
    last = line;
  }
  const int status = pclose(pipe.release());
  FOVEA_CHECK(status == 0, "attention_zoo: ", command, " failed (status ", status, ")");
  const nlohmann::json times = nlohmann::json::parse(last, nullptr, false);
  FOVEA_CHECK(times.is_object(), "attention_zoo: the PyTorch script's last line is not a JSON "
              "object: ", last);
  for (Row& r : rows)
    if (times.contains(r.attention)) r.torch_images_per_second = times[r.attention].get<double>();
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (char ch : line) {
    if (ch == '"') quoted = !quoted;
    else if (ch == ',' && !quoted) fields.push_back(field), field.clear();
    else field += ch;
  }
  fields.push_back(field);
  return fields;
}

// `rows`, then the rows of `before` for modules not in `rows` (a run of some modules keeps the
// table's others).
std::vector<Row> with_others(const std::vector<Row>& rows, const std::vector<Row>& before) {
  std::vector<Row> all = rows;
  for (const Row& r : before)
    if (std::none_of(rows.begin(), rows.end(), [&](const Row& x) { return x.module == r.module; }))
      all.push_back(r);
  return all;
}

std::string quoted(const std::string& s) {
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? '\'' : ch == '\n' ? ' ' : ch;
  return q + "\"";
}

}  // namespace

std::vector<std::string> default_modules() {
  return {"none", "se",  "cbam",    "bam",   "eca",  "sk",   "sa",
          "sge",  "psa", "ca",      "gam",   "fca",  "triplet", "aff",
          "gsa",  "ba2m", "external", "sagan", "mhsa", "sca"};
}

std::vector<Row> run(const Options& o, std::ostream& log) {
  attention::register_all();
  FOVEA_CHECK(!o.modules.empty(), "attention_zoo: no modules to train");
  for (const std::string& m : o.modules) nn::parse_attention(attention_of(m));  // names, early
  fs::create_directories(o.out);
  const std::string csv = (fs::path(o.out) / "zoo.csv").string();
  const std::vector<Row> done = fs::exists(csv) ? read_csv(csv) : std::vector<Row>{};
  const train::Datasets data = train::load_datasets(o.base);
  std::vector<Row> rows;
  for (const std::string& module : o.modules) {
    auto found = std::find_if(done.begin(), done.end(), [&](const Row& r) {
      return r.module == module && r.attention == attention_of(module) &&
             r.epochs == o.base.epochs && r.status == "ok";
    });
    if (found != done.end()) {
      log << "== " << module << ": done before (" << csv << ")\n";
      rows.push_back(*found);
    } else {
      rows.push_back(train_one(o, data, module, log));
    }
    write_csv(csv, with_others(rows, done));
  }
  if (!o.torch_script.empty()) {
    try {
      time_torch(o, rows, log);
    } catch (const Error& e) {  // the training results stand without PyTorch's column
      log << "attention_zoo: no PyTorch timings: " << e.what() << "\n";
    }
    write_csv(csv, with_others(rows, done));
  }
  write_chart((fs::path(o.out) / "zoo.png").string(), rows);
  return rows;
}

std::string table(const std::vector<Row>& rows) {
  const Row* plain = nullptr;
  for (const Row& r : rows)
    if (r.module == "none" && r.status == "ok") plain = &r;
  bool torch = false;
  for (const Row& r : rows) torch = torch || r.torch_images_per_second >= 0;
  std::ostringstream os;
  char line[320];
  std::snprintf(line, sizeof line, "%-10s %10s %9s %9s %9s %8s %8s%s\n", "module", "params",
                "MMACs", "img/s", "peak MiB", "test %", "vs plain", torch ? "  torch img/s" : "");
  os << line;
  for (const Row& r : rows) {
    if (r.status != "ok") {
      os << r.module << ": failed: " << r.status << "\n";
      continue;
    }
    char diff[32] = "";
    if (plain && &r != plain) std::snprintf(diff, sizeof diff, "%+.2f", r.test_acc - plain->test_acc);
    char peer[32] = "";
    if (r.torch_images_per_second >= 0)
      std::snprintf(peer, sizeof peer, "  %11.1f", r.torch_images_per_second);
    std::snprintf(line, sizeof line, "%-10s %10lld %9.2f %9.1f %9.1f %8.2f %8s%s\n",
                  r.module.c_str(), (long long)r.params, double(r.macs) / 1e6,
                  r.images_per_second, r.peak_mib, r.test_acc, diff, peer);
    os << line;
  }
  return os.str();
}

void write_csv(const std::string& path, const std::vector<Row>& rows) {
  std::ostringstream os;
  os << kHeader << "\n";
  for (const Row& r : rows) {
    char numbers[256];
    std::snprintf(numbers, sizeof numbers, "%lld,%lld,%.3f,%.3f,%.4f,%d,%.3f",
                  (long long)r.params, (long long)r.macs, r.images_per_second, r.peak_mib,
                  r.test_acc, r.epochs, r.torch_images_per_second);
    os << quoted(r.module) << "," << quoted(r.attention) << "," << numbers << ","
       << quoted(r.status) << "\n";
  }
  const std::string text = os.str();
  io::write_file_atomically(path, {text}, "attention_zoo");
}

std::vector<Row> read_csv(const std::string& path) {
  std::ifstream in(path);
  FOVEA_CHECK(in.good(), "attention_zoo: cannot read ", path);
  std::string line;
  std::getline(in, line);
  FOVEA_CHECK(line == kHeader, "attention_zoo: ", path, " is not a zoo table (header \"", line,
              "\"); move it away or choose another --out");
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> f = split_csv_line(line);
    FOVEA_CHECK(f.size() == 10, "attention_zoo: ", path, ": a row with ", f.size(),
                " fields instead of 10: ", line);
    Row r;
    try {
      r.module = f[0];
      r.attention = f[1];
      r.params = std::stoll(f[2]);
      r.macs = std::stoll(f[3]);
      r.images_per_second = std::stod(f[4]);
      r.peak_mib = std::stod(f[5]);
      r.test_acc = std::stod(f[6]);
      r.epochs = std::stoi(f[7]);
      r.torch_images_per_second = std::stod(f[8]);
      r.status = f[9];
    } catch (const std::exception&) {
      FOVEA_FAIL("attention_zoo: ", path, ": a number does not parse in: ", line);
    }
    rows.push_back(r);
  }
  return rows;
}

void write_chart(const std::string& path, const std::vector<Row>& rows) {
  plot::BarChart chart;
  chart.title = "Test accuracy by attention module";
  chart.x_label = "test accuracy (%)";
  for (const Row& r : rows) {
    if (r.status != "ok") continue;
    chart.labels.push_back(r.module == "none" ? "plain" : r.module);
    chart.values.push_back(r.test_acc);
    if (r.module == "none") chart.reference = r.test_acc;
  }
  if (chart.labels.empty()) return;
  plot::write_bar_chart_png(path, chart, 900, 120 + 30 * int(chart.labels.size()));
}

}  // namespace fovea::zoo
