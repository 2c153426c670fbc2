// The hardware catalogue: the built-in rows, merging a user file by name (override fields, add rows,
// class efficiency defaults), and errors in a user file naming file:line.
#include <gtest/gtest.h>

#include <cmath>

#include "core/atomic_file.h"
#include "decide/hardware_catalog.h"
#include "test_support.h"

namespace bitdial {
namespace {

TEST(HardwareCatalog, BuiltinHasEveryDocumentedRowWithPositiveFigures) {
  const HardwareCatalog c = load_hardware_catalog();
  for (const char* name : {"cpu-here", "L4", "A10G", "A100-40GB", "A100-80GB", "H100", "RTX-4090"}) {
    const HardwareSpec* h = c.find(name);
    ASSERT_NE(h, nullptr) << name;
    EXPECT_GT(h->memory_gb, 0) << name;
    EXPECT_GT(h->bandwidth_gb_s, 0) << name;
    EXPECT_GT(h->tflops_fp16, 0) << name;
    EXPECT_GE(h->tops_int8, h->tflops_fp16) << name;  // integer peaks are at least the FP16 ones
    EXPECT_GT(h->dollars_per_hour, 0) << name;
    EXPECT_GT(h->decode_efficiency, 0) << name;
    EXPECT_LE(h->decode_efficiency, 1) << name;
    EXPECT_GT(h->prefill_efficiency, 0) << name;
    EXPECT_LE(h->prefill_efficiency, 1) << name;
  }
  EXPECT_TRUE(c.get("cpu-here").measured);
  EXPECT_FALSE(c.get("L4").measured);
  EXPECT_EQ(c.get("cpu-here").bandwidth_gb_s, 33);
  EXPECT_EQ(c.get("RTX-4090").memory_gb, 24);
  EXPECT_EQ(c.get("A100-80GB").memory_gb, 80);
}

TEST(HardwareCatalog, LookupIsCaseInsensitiveAndUnknownNamesListTheKnownOnes) {
  const HardwareCatalog c = load_hardware_catalog();
  EXPECT_EQ(c.get("h100").name, "H100");
  const std::string msg = test::error_of([&] { c.get("TPU-v9"); });
  EXPECT_NE(msg.find("TPU-v9"), std::string::npos) << msg;
  EXPECT_NE(msg.find("A10G"), std::string::npos) << msg;
}

TEST(HardwareCatalog, UserFileOverridesOnlyTheGivenFieldsOfARowByName) {
  HardwareCatalog c = load_hardware_catalog();
  const HardwareSpec before = c.get("L4");
  c.merge_yaml("hardware:\n  - {name: L4, dollars_per_hour: 0.55}\n", "mine.yaml");
  const HardwareSpec& after = c.get("L4");
  EXPECT_EQ(after.dollars_per_hour, 0.55);
  EXPECT_EQ(after.bandwidth_gb_s, before.bandwidth_gb_s);
  EXPECT_EQ(after.memory_gb, before.memory_gb);
  EXPECT_EQ(after.decode_efficiency, before.decode_efficiency);
  EXPECT_EQ(c.rows().size(), load_hardware_catalog().rows().size());
}

TEST(HardwareCatalog, UserFileAddsANewRowThatTakesItsClassEfficiencies) {
  test::TempDir dir;
  const std::string path = dir.file("hw.yaml");
  write_file_atomic(path,
                    "hardware:\n"
                    "  - name: MI300X\n    memory_gb: 192\n    bandwidth_gb_s: 5300\n    tflops_fp16: 1307\n"
                    "    tops_int8: 2615\n    dollars_per_hour: 4.5\n");
  const HardwareCatalog c = load_hardware_catalog(path);
  const HardwareSpec& h = c.get("MI300X");
  EXPECT_EQ(h.hw_class, "gpu");
  EXPECT_EQ(h.memory_gb, 192);
  EXPECT_EQ(h.decode_efficiency, c.get("L4").decode_efficiency);
  EXPECT_EQ(h.prefill_efficiency, c.get("L4").prefill_efficiency);
}

TEST(HardwareCatalog, ClassDefaultsMoveRowsThatFollowTheirClassButNotRowsWithTheirOwn) {
  HardwareCatalog c = load_hardware_catalog();
  c.merge_yaml("hardware:\n  - {name: H100, decode_efficiency: 0.9}\n", "a.yaml");
  c.merge_yaml("classes:\n  gpu: {decode_efficiency: 0.5}\n", "b.yaml");
  EXPECT_EQ(c.get("L4").decode_efficiency, 0.5);
  EXPECT_EQ(c.get("H100").decode_efficiency, 0.9);
  EXPECT_NE(c.get("cpu-here").decode_efficiency, 0.5);
}

TEST(HardwareCatalog, InlinePatchOverridesAField) {
  HardwareCatalog c = load_hardware_catalog();
  HardwarePatch p;
  p.name = "A10G";
  p.dollars_per_hour = 0.75;
  c.apply(p);
  EXPECT_EQ(c.get("A10G").dollars_per_hour, 0.75);
}

TEST(HardwareCatalog, NewRowMissingAFigureIsAnError) {
  HardwareCatalog c = load_hardware_catalog();
  const std::string msg = test::error_of([&] { c.merge_yaml("hardware:\n  - {name: X1, memory_gb: 16}\n", "x.yaml"); });
  EXPECT_NE(msg.find("x.yaml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bandwidth_gb_s"), std::string::npos) << msg;
}

TEST(HardwareCatalog, UnknownKeyNamesFileLineAndKey) {
  HardwareCatalog c = load_hardware_catalog();
  const std::string msg =
      test::error_of([&] { c.merge_yaml("hardware:\n  - name: L4\n    dolars_per_hour: 1\n", "hw.yaml"); });
  EXPECT_NE(msg.find("hw.yaml:3:5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dolars_per_hour"), std::string::npos) << msg;
}

TEST(HardwareCatalog, NegativeNumberNamesFileLineAndKey) {
  HardwareCatalog c = load_hardware_catalog();
  const std::string msg = test::error_of([&] { c.merge_yaml("hardware:\n  - name: L4\n    memory_gb: -24\n", "hw.yaml"); });
  EXPECT_NE(msg.find("hw.yaml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("memory_gb"), std::string::npos) << msg;
  EXPECT_NE(msg.find("negative"), std::string::npos) << msg;
}

TEST(HardwareCatalog, EfficiencyAboveOneIsAnError) {
  HardwareCatalog c = load_hardware_catalog();
  const std::string msg = test::error_of([&] { c.merge_yaml("classes:\n  gpu: {decode_efficiency: 1.5}\n", "hw.yaml"); });
  EXPECT_NE(msg.find("hw.yaml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(0, 1]"), std::string::npos) << msg;
}

TEST(HardwareCatalog, UnknownTopLevelKeyIsAnError) {
  HardwareCatalog c = load_hardware_catalog();
  const std::string msg = test::error_of([&] { c.merge_yaml("hardwares:\n  - {name: L4}\n", "hw.yaml"); });
  EXPECT_NE(msg.find("hw.yaml:1:1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("hardwares"), std::string::npos) << msg;
}

TEST(HardwareCatalog, MalformedYamlNamesFileAndLine) {
  HardwareCatalog c = load_hardware_catalog();
  const std::string msg = test::error_of([&] { c.merge_yaml("hardware:\n  - {name: L4\n", "bad.yaml"); });
  EXPECT_NE(msg.find("bad.yaml:"), std::string::npos) << msg;
}

TEST(HardwareCatalog, TargetJsonHasTheResultsKeys) {
  const auto j = hardware_json(load_hardware_catalog().get("L4"));
  for (const char* k : {"name", "memory_gb", "bandwidth_gb_s", "tflops_fp16", "tops_int8", "dollars_per_hour"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["name"], "L4");
  EXPECT_EQ(j["tflops_fp16"], 121);
}

TEST(HardwareCatalog, MemoryBytesReadsGigabytesAsGiB) {
  EXPECT_EQ(load_hardware_catalog().get("RTX-4090").memory_bytes(), uint64_t{24} << 30);
}

}  // namespace
}  // namespace bitdial
