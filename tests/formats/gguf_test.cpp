// GGUF reader/writer: round trips of every value type, determinism, alignment, and one broken
// fixture per validation check (each must fail with a message naming the file and the place).
#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "test_support.h"

namespace bitdial {
namespace {

GgufWriter small_model_writer() {
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("test.u8", GgufValue::u8(200));
  w.set("test.i8", GgufValue::i8(-100));
  w.set("test.u16", GgufValue::u16(60000));
  w.set("test.i16", GgufValue::i16(-30000));
  w.set("test.u32", GgufValue::u32(4000000000u));
  w.set("test.i32", GgufValue::i32(-2000000000));
  w.set("test.u64", GgufValue::u64(uint64_t{1} << 60));
  w.set("test.i64", GgufValue::i64(-(int64_t{1} << 60)));
  w.set("test.f32", GgufValue::f32(3.25f));
  w.set("test.f64", GgufValue::f64(-1e300));
  w.set("test.bool", GgufValue::boolean(true));
  w.set("test.string", GgufValue::string(std::string("with\0nul", 8)));
  w.set("test.strings", GgufValue::string_array({"a", "", "ccc"}));
  w.set("test.nested", GgufValue::array(GgufValueType::ARRAY, {GgufValue::i32_array({1, 2}), GgufValue::i32_array({})}));
  std::vector<uint8_t> a(4 * 6), b(18 * 2);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(255 - i);
  w.add_tensor("a", TensorType::F32, {3, 2}, a);
  w.add_tensor("b", TensorType::Q4_0, {32, 2}, b);
  return w;
}

GgufFile parse_bytes(const std::vector<uint8_t>& bytes, const std::string& name = "mem.gguf") {
  return GgufFile::parse(bytes.data(), bytes.size(), name);
}

TEST(Gguf, RoundTripKeepsEveryValueType) {
  const std::vector<uint8_t> bytes = small_model_writer().to_bytes();
  const GgufFile f = parse_bytes(bytes);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.get("test.u8").as_uint(), 200u);
  EXPECT_EQ(f.get("test.u8").type(), GgufValueType::UINT8);
  EXPECT_EQ(f.get("test.i8").as_int(), -100);
  EXPECT_EQ(f.get("test.u16").as_uint(), 60000u);
  EXPECT_EQ(f.get("test.i16").as_int(), -30000);
  EXPECT_EQ(f.get("test.u32").as_uint(), 4000000000u);
  EXPECT_EQ(f.get("test.i32").as_int(), -2000000000);
  EXPECT_EQ(f.get("test.u64").as_uint(), uint64_t{1} << 60);
  EXPECT_EQ(f.get("test.i64").as_int(), -(int64_t{1} << 60));
  EXPECT_EQ(f.get("test.f32").as_float(), 3.25);
  EXPECT_EQ(f.get("test.f64").as_float(), -1e300);
  EXPECT_TRUE(f.get("test.bool").as_bool());
  EXPECT_EQ(f.get("test.string").as_string(), std::string("with\0nul", 8));
  const GgufArray& strings = f.get("test.strings").as_array();
  ASSERT_EQ(strings.items.size(), 3u);
  EXPECT_EQ(strings.items[2].as_string(), "ccc");
  const GgufArray& nested = f.get("test.nested").as_array();
  ASSERT_EQ(nested.items.size(), 2u);
  EXPECT_EQ(nested.items[0].as_array().items[1].as_int(), 2);
  EXPECT_TRUE(nested.items[1].as_array().items.empty());
}

TEST(Gguf, RoundTripKeepsTensorsAndBytes) {
  const std::vector<uint8_t> bytes = small_model_writer().to_bytes();
  const GgufFile f = parse_bytes(bytes);
  ASSERT_EQ(f.tensors().size(), 2u);
  const GgufTensorInfo* b = f.find_tensor("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->type, TensorType::Q4_0);
  EXPECT_EQ(b->ne, (std::vector<int64_t>{32, 2}));
  EXPECT_EQ(b->nbytes, 36u);
  EXPECT_EQ(f.tensor_data(*b)[0], 255);
  EXPECT_EQ(b->offset % 32, 0u);
}

TEST(Gguf, WriterIsDeterministic) {
  EXPECT_EQ(small_model_writer().to_bytes(), small_model_writer().to_bytes());
}

TEST(Gguf, ReadWriteReadIsByteIdentical) {
  const std::vector<uint8_t> bytes = small_model_writer().to_bytes();
  const GgufFile f = parse_bytes(bytes);
  GgufWriter w;
  for (const GgufKeyValue& kv : f.metadata()) w.set(kv.key, kv.value);
  for (const GgufTensorInfo& t : f.tensors()) w.add_tensor(t.name, t.type, t.ne, f.tensor_data(t), t.nbytes);
  EXPECT_EQ(w.to_bytes(), bytes);
}

TEST(Gguf, HonoursGeneralAlignment) {
  GgufWriter w = small_model_writer();
  w.set("general.alignment", GgufValue::u32(256));
  const std::vector<uint8_t> bytes = w.to_bytes();
  const GgufFile f = parse_bytes(bytes);
  EXPECT_EQ(f.alignment(), 256u);
  EXPECT_EQ(f.data_offset() % 256, 0u);
  for (const GgufTensorInfo& t : f.tensors()) EXPECT_EQ(t.offset % 256, 0u) << t.name;
}

TEST(Gguf, ReadsVersion2) {
  GgufWriter w = small_model_writer();
  w.set_version(2);
  const std::vector<uint8_t> bytes = w.to_bytes();
  EXPECT_EQ(parse_bytes(bytes).version(), 2u);
}

TEST(Gguf, WriteIsAtomicAndLeavesNoTemporary) {
  test::TempDir dir;
  small_model_writer().write(dir.file("m.gguf"));
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++n;
    EXPECT_EQ(e.path().filename(), "m.gguf");
  }
  EXPECT_EQ(n, 1u);
  EXPECT_NO_THROW(GgufFile::open(dir.file("m.gguf")));
}

TEST(Gguf, WriterRejectsWrongTensorSize) {
  GgufWriter w;
  EXPECT_THROW(w.add_tensor("x", TensorType::F32, {4}, std::vector<uint8_t>(15)), Error);
  EXPECT_THROW(w.add_tensor("y", TensorType::Q4_0, {31}, std::vector<uint8_t>(18)), Error);
}

TEST(Gguf, LazyTensorWritesTheSameBytesAsAnOwnedOne) {
  std::vector<uint8_t> a(4 * 6);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(3 * i);
  GgufWriter owned, lazy;
  owned.add_tensor("a", TensorType::F32, {3, 2}, a);
  owned.add_tensor("z", TensorType::F32, {1}, std::vector<uint8_t>(4, 7));
  lazy.add_tensor_lazy("a", TensorType::F32, {3, 2}, [&a] { return a; });
  lazy.add_tensor("z", TensorType::F32, {1}, std::vector<uint8_t>(4, 7));
  EXPECT_EQ(lazy.to_bytes(), owned.to_bytes());
}

TEST(Gguf, LazyTensorOfWrongSizeFailsNamingIt) {
  GgufWriter w;
  w.add_tensor_lazy("short", TensorType::F32, {3, 2}, [] { return std::vector<uint8_t>(20); });
  try {
    (void)w.to_bytes();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'short'"), std::string::npos) << e.what();
  }
}

TEST(Gguf, ReadsStories260K) {
  BITDIAL_REQUIRE_SHARED();
  const GgufFile f = GgufFile::open(test::shared_path("models/stories260K.gguf"));
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_uint("llama.embedding_length"), 64u);
  EXPECT_EQ(f.get_uint("llama.block_count"), 5u);
  EXPECT_EQ(f.get("tokenizer.ggml.tokens").as_array().items.size(), 512u);
  const GgufTensorInfo* down = f.find_tensor("blk.0.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->ne, (std::vector<int64_t>{172, 64}));
}

TEST(Gguf, ReadsEveryLlamaCppQuantizedStories) {
  BITDIAL_REQUIRE_SHARED();
  for (const char* q : {"Q2_K", "Q4_K_M", "Q6_K"}) {
    const GgufFile f = GgufFile::open(test::shared_path(std::string("models/stories260K-llamacpp-") + q + ".gguf"));
    EXPECT_EQ(f.tensors().size(), 48u) << q;
    EXPECT_EQ(f.get_uint("general.quantization_version"), 2u) << q;
  }
}

// ---- broken files: each check has its own fixture ----

// A one-tensor file whose header fields are easy to patch: kv "k" = u32 7, tensor "t" f32 [8].
std::vector<uint8_t> tiny_file() {
  GgufWriter w;
  w.set("k", GgufValue::u32(7));
  w.add_tensor("t", TensorType::F32, {8}, std::vector<uint8_t>(32, 1));
  return w.to_bytes();
}
// Offsets in tiny_file(): header 24; kv: keylen 8 @24, 'k' @32, type @33, value @37; tensor info:
// namelen @41, 't' @49, n_dims @50, ne0 @54, type @62, offset @66; infos end @74, data @96.
constexpr size_t kKvType = 33, kNameLen = 41, kDims = 50, kNe0 = 54, kType = 62, kOffset = 66;

template <class T>
void patch(std::vector<uint8_t>& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof(T));
}

std::string error_of(const std::vector<uint8_t>& bytes) {
  try {
    parse_bytes(bytes, "broken.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(GgufBroken, TinyFixtureParses) {
  const std::vector<uint8_t> b = tiny_file();
  const GgufFile f = parse_bytes(b);
  EXPECT_EQ(f.get_uint("k"), 7u);
  EXPECT_EQ(f.find_tensor("t")->ne[0], 8);
  EXPECT_EQ(f.data_offset(), 96u);
}

TEST(GgufBroken, EveryTruncationFailsCleanly) {
  const std::vector<uint8_t> full = tiny_file();
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string e = error_of(cut);
    EXPECT_NE(e.find("broken.gguf"), std::string::npos) << "prefix " << n << ": '" << e << "'";
  }
}

TEST(GgufBroken, WrongMagic) {
  std::vector<uint8_t> b = tiny_file();
  b[0] = 'X';
  EXPECT_NE(error_of(b).find("not a GGUF file"), std::string::npos);
}

TEST(GgufBroken, UnsupportedVersion) {
  std::vector<uint8_t> b = tiny_file();
  patch<uint32_t>(b, 4, 1);
  EXPECT_NE(error_of(b).find("version 1"), std::string::npos);
  patch<uint32_t>(b, 4, 99);
  EXPECT_NE(error_of(b).find("unsupported GGUF version 99 (expected 2 or 3) at byte 4"), std::string::npos) << error_of(b);
  patch<uint32_t>(b, 4, 0x03000000u);
  EXPECT_NE(error_of(b).find("big-endian"), std::string::npos);
}

TEST(GgufBroken, AbsurdTensorCount) {
  std::vector<uint8_t> b = tiny_file();
  patch<uint64_t>(b, 8, uint64_t{1} << 60);
  EXPECT_NE(error_of(b).find("tensor count"), std::string::npos);
}

TEST(GgufBroken, AbsurdMetadataCount) {
  std::vector<uint8_t> b = tiny_file();
  patch<uint64_t>(b, 16, ~uint64_t{0});
  EXPECT_NE(error_of(b).find("metadata count"), std::string::npos);
}

TEST(GgufBroken, StringLengthPastEnd) {
  std::vector<uint8_t> b = tiny_file();
  patch<uint64_t>(b, 24, uint64_t{1} << 40);
  EXPECT_NE(error_of(b).find("metadata key length 1099511627776 runs past the end of the file"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, UnknownValueType) {
  std::vector<uint8_t> b = tiny_file();
  patch<uint32_t>(b, kKvType, 13);
  EXPECT_NE(error_of(b).find("unknown value type 13 for key 'k' at byte 33"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, AbsurdArrayLength) {
  GgufWriter w;
  w.set("arr", GgufValue::i32_array({1, 2, 3}));
  std::vector<uint8_t> b = w.to_bytes();
  // key "arr": keylen @24, key @32, type @35, elem type @39, count @43
  patch<uint64_t>(b, 43, uint64_t{1} << 61);
  EXPECT_NE(error_of(b).find("array of 2305843009213693952 i32 cannot fit"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, ArraysNestedTooDeep) {
  GgufValue v = GgufValue::i32_array({1});
  for (int i = 0; i < 12; ++i) v = GgufValue::array(GgufValueType::ARRAY, {v});
  GgufWriter w;
  w.set("deep", v);
  EXPECT_NE(error_of(w.to_bytes()).find("nested deeper"), std::string::npos);
}

TEST(GgufBroken, BoolOutOfRange) {
  GgufWriter w;
  w.set("b", GgufValue::boolean(true));
  std::vector<uint8_t> b = w.to_bytes();
  b[37] = 7;  // value byte after keylen(8) 'b'(1) type(4)
  EXPECT_NE(error_of(b).find("bool value 7"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, DuplicateKey) {
  std::vector<uint8_t> b = small_model_writer().to_bytes();
  // Rename "test.i8" to "test.u8" in place: same length.
  const std::string from = "test.i8", to = "test.u8";
  auto it = std::search(b.begin(), b.end(), from.begin(), from.end());
  ASSERT_NE(it, b.end());
  std::copy(to.begin(), to.end(), it);
  EXPECT_NE(error_of(b).find("duplicate metadata key 'test.u8'"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, BadAlignment) {
  GgufWriter w;
  w.set("general.alignment", GgufValue::u32(48));
  std::vector<uint8_t> bytes;
  EXPECT_THROW(bytes = w.to_bytes(), Error);
  w.set("general.alignment", GgufValue::u32(64));
  bytes = w.to_bytes();
  patch<uint32_t>(bytes, 24 + 8 + 17 + 4, 48);  // keylen, "general.alignment", type, value
  EXPECT_NE(error_of(bytes).find("'general.alignment' is 48, not a power of two"), std::string::npos) << error_of(bytes);
}

TEST(GgufBroken, DuplicateTensorName) {
  GgufWriter w;
  w.add_tensor("ab", TensorType::F32, {1}, std::vector<uint8_t>(4));
  w.add_tensor("ac", TensorType::F32, {1}, std::vector<uint8_t>(4));
  std::vector<uint8_t> b = w.to_bytes();
  const std::string from = "ac";
  auto it = std::search(b.begin(), b.end(), from.begin(), from.end());
  *(it + 1) = 'b';
  EXPECT_NE(error_of(b).find("duplicate tensor name 'ab'"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, BadDimensionCount) {
  std::vector<uint8_t> b = tiny_file();
  patch<uint32_t>(b, kDims, 0);
  EXPECT_NE(error_of(b).find("has 0 dimensions (allowed 1..4) at byte 50"), std::string::npos) << error_of(b);
  patch<uint32_t>(b, kDims, 5);
  EXPECT_NE(error_of(b).find("has 5 dimensions"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, UnknownTensorType) {
  std::vector<uint8_t> b = tiny_file();
  patch<uint32_t>(b, kType, 5);  // id 5 (old Q4_3) was never a GGUF type
  EXPECT_NE(error_of(b).find("tensor 't' has unknown type id 5 at byte 62"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, RowNotMultipleOfBlock) {
  std::vector<uint8_t> b = tiny_file();
  patch<uint32_t>(b, kType, static_cast<uint32_t>(TensorType::Q4_0));
  EXPECT_NE(error_of(b).find("row length 8 is not a multiple of q4_0's block size 32"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, AbsurdDimension) {
  std::vector<uint8_t> b = tiny_file();
  patch<uint64_t>(b, kNe0, ~uint64_t{0});
  EXPECT_NE(error_of(b).find("dimension 0 is absurd"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, ShapeLargerThanData) {
  std::vector<uint8_t> b = tiny_file();
  patch<uint64_t>(b, kNe0, 9);
  EXPECT_NE(error_of(b).find("runs past the end of the file"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, MisalignedOffset) {
  std::vector<uint8_t> b = tiny_file();
  patch<uint64_t>(b, kOffset, 4);
  EXPECT_NE(error_of(b).find("offset 4 is not a multiple of the alignment 32 at byte 66"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, OffsetPastEnd) {
  std::vector<uint8_t> b = tiny_file();
  patch<uint64_t>(b, kOffset, uint64_t{1} << 40);
  EXPECT_NE(error_of(b).find("tensor 't'"), std::string::npos);
  EXPECT_NE(error_of(b).find("runs past the end of the file"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, OverlappingTensors) {
  GgufWriter w;
  w.add_tensor("a", TensorType::F32, {16}, std::vector<uint8_t>(64));
  w.add_tensor("b", TensorType::F32, {16}, std::vector<uint8_t>(64));
  std::vector<uint8_t> bytes = w.to_bytes();
  // tensor b's offset field: header 24, info a = 8+1+4+8+4+8 = 33 bytes, info b offset at +25
  patch<uint64_t>(bytes, 24 + 33 + 25, 32);
  EXPECT_NE(error_of(bytes).find("overlaps tensor 'a'"), std::string::npos) << error_of(bytes);
}

TEST(GgufBroken, NameLengthPastEnd) {
  std::vector<uint8_t> b = tiny_file();
  patch<uint64_t>(b, kNameLen, 1000);
  EXPECT_NE(error_of(b).find("tensor name length 1000 runs past the end"), std::string::npos) << error_of(b);
}

TEST(GgufBroken, WrongTypedLookupNamesTheKey) {
  const std::vector<uint8_t> b = tiny_file();
  const GgufFile f = parse_bytes(b, "typed.gguf");
  try {
    f.get_string("k");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("typed.gguf: key 'k': expected a string, found u32"), std::string::npos) << e.what();
  }
  EXPECT_THROW(f.get_uint("missing"), Error);
}

}  // namespace
}  // namespace bitdial
