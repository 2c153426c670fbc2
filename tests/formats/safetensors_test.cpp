#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <random>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/fp16.h"
#include "test_support.h"

namespace bitdial {
namespace {

using test::TempDir;

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// Float-typed payloads of n values from a seeded RNG, stored as `dtype`.
std::vector<uint8_t> random_values(StDtype dtype, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint8_t> out(n * st_dtype_size(dtype));
  for (size_t i = 0; i < n; ++i) {
    const float f = dist(rng);
    if (dtype == StDtype::F32) std::memcpy(&out[i * 4], &f, 4);
    const uint16_t h = dtype == StDtype::F16 ? f32_to_fp16(f) : f32_to_bf16(f);
    if (dtype != StDtype::F32) std::memcpy(&out[i * 2], &h, 2);
  }
  return out;
}

// A safetensors image from a literal header and `data_bytes` bytes of data; `declared_len`
// overrides the 8-byte header length.
std::string image(const std::string& header, size_t data_bytes, std::optional<uint64_t> declared_len = std::nullopt) {
  const uint64_t n = declared_len.value_or(header.size());
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  out += header;
  out.append(data_bytes, '\x11');
  return out;
}

// The message of the bitdial::Error that opening `contents` (written to a file) raises.
std::string open_error(const TempDir& dir, const std::string& contents, std::string* path_out = nullptr) {
  const std::string path = dir.file("broken.safetensors");
  write_file_atomic(path, contents);
  if (path_out != nullptr) *path_out = path;
  try {
    SafetensorsFile::open(path);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "opening the broken file did not fail";
  return "";
}

class SafetensorsRoundTrip : public ::testing::TestWithParam<StDtype> {};

TEST_P(SafetensorsRoundTrip, WrittenTensorsReadBackWithSameBytesShapeAndMetadata) {
  const StDtype dtype = GetParam();
  TempDir dir;
  const std::vector<uint8_t> w = random_values(dtype, 6 * 10, 1);
  const std::vector<uint8_t> b = random_values(dtype, 7, 2);
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  writer.add_tensor("layer.weight", dtype, {6, 10}, w.data(), w.size());
  writer.add_tensor("layer.bias", dtype, {7}, b);
  writer.write(dir.file("m.safetensors"));

  const SafetensorsFile f = SafetensorsFile::open(dir.file("m.safetensors"));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  ASSERT_EQ(f.tensors().size(), 2u);
  const StTensorInfo* tw = f.find_tensor("layer.weight");
  ASSERT_NE(tw, nullptr);
  EXPECT_EQ(tw->dtype, dtype);
  EXPECT_EQ(tw->shape, (std::vector<int64_t>{6, 10}));
  EXPECT_EQ(std::vector<uint8_t>(f.tensor_data(*tw), f.tensor_data(*tw) + tw->nbytes), w);
  const StTensorInfo* tb = f.find_tensor("layer.bias");
  ASSERT_NE(tb, nullptr);
  EXPECT_EQ(std::vector<uint8_t>(f.tensor_data(*tb), f.tensor_data(*tb) + tb->nbytes), b);
}

INSTANTIATE_TEST_SUITE_P(FloatTypes, SafetensorsRoundTrip, ::testing::Values(StDtype::F32, StDtype::F16, StDtype::BF16),
                         [](const auto& info) { return std::string(st_dtype_name(info.param)); });

TEST(SafetensorsWriter, HeaderIsSpacePaddedSoDataStartsEightByteAligned) {
  SafetensorsWriter w;
  w.add_tensor("x", StDtype::U8, {3}, random_bytes(3, 3));
  const std::vector<uint8_t> bytes = w.to_bytes();
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  EXPECT_EQ((8 + n) % 8, 0u);
  EXPECT_EQ(bytes[8 + n - 1] == ' ' || bytes[8 + n - 1] == '}', true);
  EXPECT_EQ(bytes.size(), 8 + n + 3);
}

TEST(SafetensorsWriter, OutputDoesNotDependOnInsertionOrder) {
  const auto a = random_bytes(8, 4), b = random_bytes(4, 5);
  SafetensorsWriter w1, w2;
  w1.add_tensor("b", StDtype::F32, {2}, a);
  w1.add_tensor("a", StDtype::F32, {1}, b);
  w2.add_tensor("a", StDtype::F32, {1}, b);
  w2.add_tensor("b", StDtype::F32, {2}, a);
  EXPECT_EQ(w1.to_bytes(), w2.to_bytes());
}

TEST(SafetensorsReader, KnownButUnconvertibleDtypesAreListedWithoutAGgufType) {
  SafetensorsWriter w;
  w.add_tensor("mask", StDtype::BOOL, {4}, random_bytes(4, 6));
  w.add_tensor("scales", StDtype::F8_E4M3, {2, 2}, random_bytes(4, 7));
  const std::vector<uint8_t> bytes = w.to_bytes();
  const SafetensorsFile f = SafetensorsFile::parse(bytes.data(), bytes.size(), "mem");
  ASSERT_NE(f.find_tensor("scales"), nullptr);
  EXPECT_EQ(f.find_tensor("scales")->dtype, StDtype::F8_E4M3);
  EXPECT_FALSE(st_dtype_to_tensor_type(StDtype::F8_E4M3).has_value());
  EXPECT_FALSE(st_dtype_to_tensor_type(StDtype::BOOL).has_value());
  EXPECT_EQ(st_dtype_to_tensor_type(StDtype::BF16), TensorType::BF16);
}

TEST(SafetensorsModel, ShardedIndexReadsAsOneCollection) {
  TempDir dir;
  const auto a = random_values(StDtype::F32, 4, 8), b = random_values(StDtype::F16, 6, 9);
  SafetensorsWriter s1, s2;
  s1.add_tensor("a.weight", StDtype::F32, {2, 2}, a);
  s2.add_tensor("b.weight", StDtype::F16, {3, 2}, b);
  s1.write(dir.file("model-00001-of-00002.safetensors"));
  s2.write(dir.file("model-00002-of-00002.safetensors"));
  write_safetensors_index(dir.file("model.safetensors.index.json"),
                          {{"a.weight", "model-00001-of-00002.safetensors"}, {"b.weight", "model-00002-of-00002.safetensors"}},
                          a.size() + b.size());

  const SafetensorsModel m = SafetensorsModel::open(dir.path());
  EXPECT_EQ(m.shard_count(), 2u);
  ASSERT_EQ(m.tensors().size(), 2u);
  const StTensorInfo* tb = m.find_tensor("b.weight");
  ASSERT_NE(tb, nullptr);
  EXPECT_EQ(tb->shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(std::vector<uint8_t>(m.tensor_data(*tb), m.tensor_data(*tb) + tb->nbytes), b);
  EXPECT_EQ(m.metadata().at("total_size"), std::to_string(a.size() + b.size()));
}

TEST(SafetensorsModel, IndexNamingATensorItsShardLacksFailsNamingTheKey) {
  TempDir dir;
  SafetensorsWriter s1;
  s1.add_tensor("a.weight", StDtype::F32, {1}, random_values(StDtype::F32, 1, 10));
  s1.write(dir.file("shard1.safetensors"));
  write_safetensors_index(dir.file("model.safetensors.index.json"),
                          {{"a.weight", "shard1.safetensors"}, {"ghost.weight", "shard1.safetensors"}}, 4);
  try {
    SafetensorsModel::open(dir.file("model.safetensors.index.json"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.safetensors.index.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("key 'ghost.weight'"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsModel, FolderWithSingleModelFileOpens) {
  TempDir dir;
  SafetensorsWriter w;
  w.add_tensor("x", StDtype::F32, {2}, random_values(StDtype::F32, 2, 11));
  w.write(dir.file("model.safetensors"));
  EXPECT_EQ(SafetensorsModel::open(dir.path()).tensors().size(), 1u);
}

// ---- one broken fixture per validation check ------------------------------------------------

TEST(SafetensorsBroken, TruncatedFileNamesFileAndByte) {
  TempDir dir;
  std::string path;
  const std::string msg = open_error(dir, std::string("\x10\x00\x00", 3), &path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("at byte 0"), std::string::npos) << msg;
}

TEST(SafetensorsBroken, HeaderLengthPastEndOfFileIsRejected) {
  TempDir dir;
  std::string path;
  const std::string msg = open_error(dir, image("{}", 0, 1000), &path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("header length 1000"), std::string::npos) << msg;
  EXPECT_NE(msg.find("at byte 0"), std::string::npos) << msg;
}

TEST(SafetensorsBroken, HugeHeaderLengthFailsWithoutAllocating) {
  TempDir dir;
  const std::string msg = open_error(dir, image("{}", 0, ~uint64_t{0}));
  EXPECT_NE(msg.find("exceeds"), std::string::npos) << msg;
}

TEST(SafetensorsBroken, MalformedJsonNamesTheByteOffset) {
  TempDir dir;
  std::string path;
  const std::string msg = open_error(dir, image(R"({"a": {"dtype": "F32",, })", 0), &path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("not valid JSON at byte 30"), std::string::npos) << msg;
}

TEST(SafetensorsBroken, OffsetsPastEndOfDataNameTheTensor) {
  TempDir dir;
  std::string path;
  const std::string msg = open_error(dir, image(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8), &path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("past the end"), std::string::npos) << msg;
  EXPECT_NE(msg.find("key 'w'"), std::string::npos) << msg;
}

TEST(SafetensorsBroken, OverlappingTensorsAreRejected) {
  TempDir dir;
  const std::string msg = open_error(dir, image(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                                                R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                                                12));
  EXPECT_NE(msg.find("overlaps tensor 'a'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("key 'b'"), std::string::npos) << msg;
}

TEST(SafetensorsBroken, UncoveredDataBytesAreRejected) {
  TempDir dir;
  const std::string msg = open_error(dir, image(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 12));
  EXPECT_NE(msg.find("not covered by any tensor"), std::string::npos) << msg;
  EXPECT_NE(msg.find("at byte"), std::string::npos) << msg;
}

TEST(SafetensorsBroken, ShapeThatDisagreesWithByteSizeNamesTheTensor) {
  TempDir dir;
  const std::string msg = open_error(dir, image(R"({"w": {"dtype": "F16", "shape": [3, 2], "data_offsets": [0, 8]}})", 8));
  EXPECT_NE(msg.find("need 12 bytes but data_offsets span 8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("key 'w'"), std::string::npos) << msg;
}

TEST(SafetensorsBroken, DuplicateTensorNameIsRejected) {
  TempDir dir;
  const std::string msg = open_error(dir, image(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                                                R"( "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                                                8));
  EXPECT_NE(msg.find("duplicate"), std::string::npos) << msg;
  EXPECT_NE(msg.find("key 'w'"), std::string::npos) << msg;
}

TEST(SafetensorsBroken, UnknownDtypeNamesTheTensor) {
  TempDir dir;
  const std::string msg = open_error(dir, image(R"({"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}})", 1));
  EXPECT_NE(msg.find("unknown dtype 'Q4'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("key 'w'"), std::string::npos) << msg;
}

TEST(SafetensorsBroken, RandomCorruptionsNeverCrash) {
  // Flip bytes of a valid file from a seeded RNG: every result either parses or raises Error.
  SafetensorsWriter w;
  w.set_metadata("k", "v");
  w.add_tensor("a", StDtype::F32, {2, 3}, random_values(StDtype::F32, 6, 12));
  w.add_tensor("b", StDtype::BF16, {5}, random_values(StDtype::BF16, 5, 13));
  const std::vector<uint8_t> good = w.to_bytes();
  std::mt19937 rng(14);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<uint8_t> bad = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) bad[rng() % bad.size()] = static_cast<uint8_t>(rng());
    bad.resize(bad.size() - (rng() % 3 == 0 ? rng() % bad.size() : 0));
    try {
      SafetensorsFile::parse(bad.data(), bad.size(), "fuzz");
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace bitdial
