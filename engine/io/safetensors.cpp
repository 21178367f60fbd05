#include "engine/io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/autograd/grad_mode.h"
#include "engine/core/factory.h"
#include "engine/io/atomic_file.h"
#include "engine/io/json_depth.h"
#include "engine/io/posix_fd.h"

namespace fovea::io {

// The data buffer is the tensors' memory as is; a big-endian host would need byte swaps.
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O assumes a little-endian host");

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;  // keeps the header's key order: write order = file order

constexpr const char* kLoad = "load_safetensors: ";
constexpr const char* kSave = "save_safetensors: ";
constexpr const char* kMetadataKey = "__metadata__";
// The reference implementation refuses larger headers; so do we, before allocating one.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Dtypes of the format that fovea has no counterpart for: named in the error, not "unknown".
constexpr const char* kForeignDtypes[] = {"BOOL", "U8",  "I8",      "I16",     "U16",     "F16",
                                          "BF16", "I32", "U32",     "U64",     "F8_E4M3", "F8_E5M2",
                                          "C64",  "F4",  "F6_E2M3", "F6_E3M2", "F8_E8M0"};

bool parse_dtype(const std::string& name, DType& out) {
  for (DType d : {DType::Float32, DType::Float64, DType::Int64})
    if (name == safetensors_dtype_name(d)) {
      out = d;
      return true;
    }
  return false;
}

// ---- reading ------------------------------------------------------------------------------------

// Reads exactly n bytes at `offset`; the caller has checked that they lie inside the file.
void read_at(const Fd& fd, const std::string& path, void* dst, uint64_t n, uint64_t offset) {
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t r = ::pread(fd.get(), p, std::min<uint64_t>(n, 1u << 30), off_t(offset));
    if (r < 0 && errno == EINTR) continue;
    FOVEA_CHECK(r > 0, kLoad, path, ": read failed at byte ", offset, ": ",
                r < 0 ? errno_text() : "unexpected end of file (was it truncated meanwhile?)");
    p += r;
    n -= uint64_t(r);
    offset += uint64_t(r);
  }
}

// The header as JSON, refusing duplicate keys (JSON parsers disagree on which one wins).
ojson parse_header(const std::string& path, const std::string& text) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto on_event = [&](int depth, ojson::parse_event_t event, ojson& parsed) {
    FOVEA_CHECK(depth <= kMaxJsonDepth, kLoad, path, ": the header nests deeper than ",
                kMaxJsonDepth, " levels");
    if (event == ojson::parse_event_t::object_start) open_objects.emplace_back();
    if (event == ojson::parse_event_t::object_end) open_objects.pop_back();
    if (event == ojson::parse_event_t::key &&
        !open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  // nlohmann stops at a NUL byte as at the end of input; JSON allows none anywhere.
  const size_t nul = text.find('\0');
  FOVEA_CHECK(nul == std::string::npos, kLoad, path,
              ": the header is not valid JSON (a NUL byte at offset ", nul, ")");
  ojson header;
  try {
    header = ojson::parse(text, on_event);
  } catch (const ojson::exception& e) {
    FOVEA_FAIL(kLoad, path, ": the header is not valid JSON (", e.what(), ")");
  }
  FOVEA_CHECK(duplicate.empty(), kLoad, path, ": the header repeats the key \"", duplicate, "\"");
  FOVEA_CHECK(header.is_object(), kLoad, path, ": the header is JSON but not an object");
  return header;
}

uint64_t unsigned_field(const std::string& path, const std::string& name, const char* field,
                        const ojson& v) {
  FOVEA_CHECK(v.is_number_unsigned() && v.get<uint64_t>() <= uint64_t(INT64_MAX), kLoad, path,
              ": \"", name, "\": \"", field, "\" must hold non-negative integers, got ", v.dump());
  return v.get<uint64_t>();
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& path, const std::string& name, const ojson& j) {
  FOVEA_CHECK(j.is_object(), kLoad, path, ": \"", name, "\" is not an object: ", j.dump());
  for (const auto& [field, value] : j.items())
    FOVEA_CHECK(field == "dtype" || field == "shape" || field == "data_offsets", kLoad, path,
                ": \"", name, "\" has an unexpected field \"", field, "\"");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    FOVEA_CHECK(j.contains(field), kLoad, path, ": \"", name, "\" has no \"", field, "\"");

  Entry e{name, DType::Float32, {}, 0, 0};
  const ojson& dtype = j.at("dtype");
  FOVEA_CHECK(dtype.is_string(), kLoad, path, ": \"", name, "\": \"dtype\" must be a string, got ",
              dtype.dump());
  const std::string dname = dtype.get<std::string>();
  if (!parse_dtype(dname, e.dtype)) {
    const bool foreign = std::find(std::begin(kForeignDtypes), std::end(kForeignDtypes), dname) !=
                         std::end(kForeignDtypes);
    FOVEA_FAIL(kLoad, path, ": \"", name, "\" has dtype ", dname,
               foreign ? ", which fovea does not support" : ", which is not a safetensors dtype",
               " (fovea reads F32, F64 and I64)");
  }

  const ojson& shape = j.at("shape");
  FOVEA_CHECK(shape.is_array(), kLoad, path, ": \"", name, "\": \"shape\" must be an array, got ",
              shape.dump());
  // extent counts a 0 dim as 1: it is the product the tensor's strides reach, which must fit
  // an int64 even when the tensor is empty.
  uint64_t numel = 1, extent = 1;
  bool overflow = false;
  for (const ojson& d : shape) {
    e.shape.push_back(int64_t(unsigned_field(path, name, "shape", d)));
    const uint64_t dim = uint64_t(e.shape.back());
    overflow = overflow || __builtin_mul_overflow(numel, dim, &numel) ||
               __builtin_mul_overflow(extent, std::max<uint64_t>(dim, 1), &extent);
  }
  uint64_t nbytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, dtype_size(e.dtype), &nbytes);
  FOVEA_CHECK(!overflow && nbytes <= uint64_t(INT64_MAX) && extent <= uint64_t(INT64_MAX), kLoad,
              path, ": \"", name, "\": shape ", shape_str(e.shape), " has too many elements");

  const ojson& offsets = j.at("data_offsets");
  FOVEA_CHECK(offsets.is_array() && offsets.size() == 2, kLoad, path, ": \"", name,
              "\": \"data_offsets\" must be [begin, end], got ", offsets.dump());
  e.begin = unsigned_field(path, name, "data_offsets", offsets[0]);
  e.end = unsigned_field(path, name, "data_offsets", offsets[1]);
  FOVEA_CHECK(e.begin <= e.end && e.end - e.begin == nbytes, kLoad, path, ": \"", name,
              "\": data_offsets [", e.begin, ", ", e.end, "] do not hold ", dname, " ",
              shape_str(e.shape), " (", nbytes, " bytes)");
  return e;
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const ojson& j) {
  FOVEA_CHECK(j.is_object(), kLoad, path, ": \"", kMetadataKey, "\" must be an object, got ",
              j.dump());
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : j.items()) {
    FOVEA_CHECK(value.is_string(), kLoad, path, ": \"", kMetadataKey, "\": the value of \"", key,
                "\" must be a string, got ", value.dump());
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

// The tensors must tile the data buffer: sorted by offset, each starts where the previous ended
// and the last ends at the end of the file (no overlaps, gaps or trailing bytes).
void check_tiling(const std::string& path, std::vector<Entry>& entries, uint64_t buffer_bytes) {
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    FOVEA_CHECK(e.end <= buffer_bytes, kLoad, path, ": \"", e.name, "\": data_offsets [", e.begin,
                ", ", e.end, "] lie beyond the data buffer (", buffer_bytes, " bytes)");
    FOVEA_CHECK(e.begin >= expected, kLoad, path, ": \"", e.name, "\": data_offsets [", e.begin,
                ", ", e.end, "] overlap those of \"", previous ? previous->name : "", "\"");
    FOVEA_CHECK(e.begin == expected, kLoad, path, ": \"", e.name, "\": data_offsets [", e.begin,
                ", ", e.end, "] leave a gap of ", e.begin - expected, " bytes before them");
    expected = e.end;
    previous = &e;
  }
  FOVEA_CHECK(expected == buffer_bytes, kLoad, path, ": ", buffer_bytes - expected,
              " bytes of trailing data after the last tensor (the tensors end at byte ", expected,
              " of a ", buffer_bytes, "-byte data buffer)");
}

// ---- writing ------------------------------------------------------------------------------------

// Header and CPU-contiguous copies of the tensors, validated before any file is touched.
std::string build_header(const std::string& path, const NamedTensors& tensors,
                         const std::map<std::string, std::string>& metadata,
                         std::vector<Tensor>& data) {
  ojson header = ojson::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::set<std::string> seen;
  uint64_t offset = 0;
  NoGradGuard no_grad;
  for (const auto& [name, t] : tensors) {
    FOVEA_CHECK(!name.empty() && name != kMetadataKey, kSave, path, ": \"", name,
                "\" is not a valid tensor name");
    FOVEA_CHECK(seen.insert(name).second, kSave, path, ": the tensor name \"", name,
                "\" appears twice");
    FOVEA_CHECK(t.defined(), kSave, path, ": \"", name, "\" is undefined");
    data.push_back(t.detach().to(Device::cpu()).contiguous());
    const uint64_t nbytes = uint64_t(t.numel()) * dtype_size(t.dtype());
    header[name] = {{"dtype", safetensors_dtype_name(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const ojson::exception& e) {
    FOVEA_FAIL(kSave, path, ": a tensor name or metadata string is not valid UTF-8 (", e.what(),
               ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
  }
  FOVEA_FAIL("safetensors: no safetensors name for dtype ", int(dtype));
}

bool SafetensorsFile::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(),
                     [&](const auto& t) { return t.first == name; });
}

const Tensor& SafetensorsFile::at(const std::string& name) const {
  for (const auto& [key, t] : tensors)
    if (key == name) return t;
  FOVEA_FAIL("SafetensorsFile: no tensor \"", name, "\"");
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<Tensor> data;
  const std::string header = build_header(path, tensors, metadata, data);
  char length[8];
  for (int i = 0; i < 8; ++i) length[i] = char(uint8_t(uint64_t(header.size()) >> (8 * i)));
  std::vector<std::string_view> chunks = {{length, 8}, header};
  for (const Tensor& t : data)
    if (t.numel() > 0)
      chunks.emplace_back(static_cast<const char*>(t.raw_data()),
                          size_t(t.numel()) * dtype_size(t.dtype()));
  write_file_atomically(path, chunks, "save_safetensors");
}

SafetensorsFile load_safetensors(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  FOVEA_CHECK(fs::exists(status), kLoad, path, " does not exist");
  FOVEA_CHECK(fs::is_regular_file(status), kLoad, path, " is not a regular file");
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  FOVEA_CHECK(fd.get() >= 0, kLoad, "cannot open ", path, ": ", errno_text());
  struct stat st {};
  FOVEA_CHECK(::fstat(fd.get(), &st) == 0, kLoad, "cannot stat ", path, ": ", errno_text());
  const uint64_t file_bytes = uint64_t(st.st_size);

  FOVEA_CHECK(file_bytes >= 8, kLoad, path, ": the file is ", file_bytes,
              " bytes long, too short for the 8-byte header length");
  uint8_t length[8];
  read_at(fd, path, length, 8, 0);
  uint64_t header_bytes = 0;
  for (int i = 0; i < 8; ++i) header_bytes |= uint64_t(length[i]) << (8 * i);
  FOVEA_CHECK(header_bytes <= file_bytes - 8, kLoad, path, ": header length ", header_bytes,
              " is larger than the rest of the file (", file_bytes - 8, " bytes)");
  FOVEA_CHECK(header_bytes <= kMaxHeaderBytes, kLoad, path, ": header length ", header_bytes,
              " exceeds the limit of ", kMaxHeaderBytes, " bytes");

  std::string text(header_bytes, '\0');
  read_at(fd, path, text.data(), header_bytes, 8);
  const ojson header = parse_header(path, text);

  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey)
      out.metadata = parse_metadata(path, value);
    else
      entries.push_back(parse_entry(path, key, value));
  }
  const uint64_t data_start = 8 + header_bytes;
  check_tiling(path, entries, file_bytes - data_start);

  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, e.dtype);
    if (e.end > e.begin) read_at(fd, path, t.raw_data(), e.end - e.begin, data_start + e.begin);
    out.tensors.emplace_back(e.name, t);
  }
  return out;
}

}  // namespace fovea::io
