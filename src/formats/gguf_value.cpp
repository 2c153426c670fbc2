// GgufValue: typed access and display of GGUF metadata values.
#include <cmath>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "formats/gguf.h"

namespace bitdial {

const char* gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: return "u8";
    case GgufValueType::INT8: return "i8";
    case GgufValueType::UINT16: return "u16";
    case GgufValueType::INT16: return "i16";
    case GgufValueType::UINT32: return "u32";
    case GgufValueType::INT32: return "i32";
    case GgufValueType::FLOAT32: return "f32";
    case GgufValueType::BOOL: return "bool";
    case GgufValueType::STRING: return "string";
    case GgufValueType::ARRAY: return "array";
    case GgufValueType::UINT64: return "u64";
    case GgufValueType::INT64: return "i64";
    case GgufValueType::FLOAT64: return "f64";
  }
  return "unknown";
}

GgufValue GgufValue::array(GgufValueType elem_type, std::vector<GgufValue> items) {
  for (const GgufValue& v : items)
    if (v.type() != elem_type)
      fail("gguf array of ", gguf_value_type_name(elem_type), " given an element of type ", gguf_value_type_name(v.type()));
  auto arr = std::make_shared<GgufArray>();
  arr->elem_type = elem_type;
  arr->items = std::move(items);
  return {GgufValueType::ARRAY, std::shared_ptr<const GgufArray>(std::move(arr))};
}

GgufValue GgufValue::string_array(const std::vector<std::string>& items) {
  std::vector<GgufValue> v;
  v.reserve(items.size());
  for (const std::string& s : items) v.push_back(string(s));
  return array(GgufValueType::STRING, std::move(v));
}

GgufValue GgufValue::f32_array(const std::vector<float>& items) {
  std::vector<GgufValue> v;
  v.reserve(items.size());
  for (float f : items) v.push_back(f32(f));
  return array(GgufValueType::FLOAT32, std::move(v));
}

GgufValue GgufValue::i32_array(const std::vector<int32_t>& items) {
  std::vector<GgufValue> v;
  v.reserve(items.size());
  for (int32_t i : items) v.push_back(i32(i));
  return array(GgufValueType::INT32, std::move(v));
}

bool GgufValue::is_integer() const {
  return std::holds_alternative<uint64_t>(v_) || std::holds_alternative<int64_t>(v_);
}

uint64_t GgufValue::as_uint() const {
  if (const auto* u = std::get_if<uint64_t>(&v_)) return *u;
  if (const auto* i = std::get_if<int64_t>(&v_)) {
    if (*i < 0) fail("expected a non-negative integer, found ", *i);
    return static_cast<uint64_t>(*i);
  }
  fail("expected an integer, found ", gguf_value_type_name(type_));
}

int64_t GgufValue::as_int() const {
  if (const auto* i = std::get_if<int64_t>(&v_)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&v_)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail("integer ", *u, " does not fit in int64");
    return static_cast<int64_t>(*u);
  }
  fail("expected an integer, found ", gguf_value_type_name(type_));
}

double GgufValue::as_float() const {
  if (const auto* d = std::get_if<double>(&v_)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&v_)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&v_)) return static_cast<double>(*i);
  fail("expected a number, found ", gguf_value_type_name(type_));
}

bool GgufValue::as_bool() const {
  if (const auto* b = std::get_if<bool>(&v_)) return *b;
  fail("expected a bool, found ", gguf_value_type_name(type_));
}

const std::string& GgufValue::as_string() const {
  if (const auto* s = std::get_if<std::string>(&v_)) return *s;
  fail("expected a string, found ", gguf_value_type_name(type_));
}

const GgufArray& GgufValue::as_array() const {
  if (const auto* a = std::get_if<std::shared_ptr<const GgufArray>>(&v_)) return **a;
  fail("expected an array, found ", gguf_value_type_name(type_));
}

namespace {

std::string quote(const std::string& s, size_t max_len) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_len; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max_len) out += "...";
  return out + "\"";
}

}  // namespace

std::string GgufValue::to_display_string(size_t max_items) const {
  std::ostringstream os;
  os.precision(std::numeric_limits<float>::max_digits10);
  if (const auto* u = std::get_if<uint64_t>(&v_)) {
    os << *u;
  } else if (const auto* i = std::get_if<int64_t>(&v_)) {
    os << *i;
  } else if (const auto* d = std::get_if<double>(&v_)) {
    if (type_ == GgufValueType::FLOAT32) os << static_cast<float>(*d); else os << *d;
  } else if (const auto* b = std::get_if<bool>(&v_)) {
    os << (*b ? "true" : "false");
  } else if (const auto* s = std::get_if<std::string>(&v_)) {
    os << quote(*s, 200);
  } else {
    const GgufArray& a = as_array();
    os << "[" << gguf_value_type_name(a.elem_type) << " x " << a.items.size() << "]";
    if (a.items.size() <= max_items) {
      os << " [";
      for (size_t k = 0; k < a.items.size(); ++k) os << (k ? ", " : "") << a.items[k].to_display_string(max_items);
      os << "]";
    } else {
      os << " [";
      for (size_t k = 0; k < 3; ++k) os << (k ? ", " : "") << a.items[k].to_display_string(max_items);
      os << ", ...]";
    }
  }
  return os.str();
}

}  // namespace bitdial
