// The SentencePiece model protobuf (tokenizer.model), only the fields GGUF needs. Field numbers
// from sentencepiece_model.proto: ModelProto { pieces = 1; trainer_spec = 2; normalizer_spec = 3 },
// SentencePiece { piece = 1; score = 2 (float); type = 3 (enum) },
// TrainerSpec { model_type = 3; vocab_size = 4; byte_fallback = 35; unk_id = 40; bos_id = 41;
// eos_id = 42; pad_id = 43 }, NormalizerSpec { name = 1; add_dummy_prefix = 3;
// remove_extra_whitespaces = 4; escape_whitespaces = 5 }.
#include <cstring>

#include "core/error.h"
#include "formats/hf_tokenizer.h"

namespace bitdial {
namespace {

enum Wire : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_key(std::string& out, uint32_t field, Wire wire) { put_varint(out, (uint64_t{field} << 3) | wire); }

// int32 fields are encoded as sign-extended 64-bit varints (so -1 takes 10 bytes).
void put_int(std::string& out, uint32_t field, int64_t v) {
  put_key(out, field, kVarint);
  put_varint(out, static_cast<uint64_t>(v));
}

void put_bytes(std::string& out, uint32_t field, const std::string& s) {
  put_key(out, field, kLen);
  put_varint(out, s.size());
  out += s;
}

void put_float(std::string& out, uint32_t field, float f) {
  put_key(out, field, kFixed32);
  uint32_t u;
  std::memcpy(&u, &f, 4);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(u >> (8 * i)));
}

// A bounds-checked cursor over one message; `base` is the message's offset in the file.
struct Reader {
  const uint8_t* p;
  size_t n;
  size_t base;
  const std::string& what;
  size_t pos = 0;

  bool done() const { return pos >= n; }
  [[noreturn]] void bad(const char* msg) const { fail(what, ": malformed SentencePiece model: ", msg, " at byte ", base + pos); }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= n) bad("truncated varint");
      const uint8_t b = p[pos++];
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    bad("varint longer than 10 bytes");
  }
  Reader sub() {
    const uint64_t len = varint();
    if (len > n - pos) bad("length past the end of the message");
    Reader r{p + pos, static_cast<size_t>(len), base + pos, what};
    pos += static_cast<size_t>(len);
    return r;
  }
  float fixed32() {
    if (n - pos < 4) bad("truncated float");
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) u |= static_cast<uint32_t>(p[pos + i]) << (8 * i);
    pos += 4;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  void skip(uint32_t wire) {
    switch (wire) {
      case kVarint: varint(); return;
      case kFixed64: if (n - pos < 8) bad("truncated fixed64"); pos += 8; return;
      case kLen: sub(); return;
      case kFixed32: fixed32(); return;
      default: bad("unsupported wire type");
    }
  }
};

void read_piece(Reader r, SpmModel& m) {
  std::string piece;
  float score = 0.0f;
  int32_t type = 1;  // NORMAL is the proto default
  while (!r.done()) {
    const uint64_t key = r.varint();
    const uint32_t field = static_cast<uint32_t>(key >> 3), wire = static_cast<uint32_t>(key & 7);
    if (field == 1 && wire == kLen) {
      const Reader s = r.sub();
      piece.assign(reinterpret_cast<const char*>(s.p), s.n);
    } else if (field == 2 && wire == kFixed32) {
      score = r.fixed32();
    } else if (field == 3 && wire == kVarint) {
      type = static_cast<int32_t>(r.varint());
    } else {
      r.skip(wire);
    }
  }
  m.pieces.push_back(std::move(piece));
  m.scores.push_back(score);
  m.types.push_back(type);
}

void read_trainer_spec(Reader r, SpmModel& m) {
  while (!r.done()) {
    const uint64_t key = r.varint();
    const uint32_t field = static_cast<uint32_t>(key >> 3), wire = static_cast<uint32_t>(key & 7);
    if (wire != kVarint) {
      r.skip(wire);
      continue;
    }
    const auto v = static_cast<int32_t>(static_cast<int64_t>(r.varint()));
    switch (field) {
      case 3: m.model_type = v; break;
      case 35: m.byte_fallback = v != 0; break;
      case 40: m.unk_id = v; break;
      case 41: m.bos_id = v; break;
      case 42: m.eos_id = v; break;
      case 43: m.pad_id = v; break;
      default: break;
    }
  }
}

}  // namespace

std::string spm_model_to_bytes(const SpmModel& m) {
  BITDIAL_ASSERT(m.pieces.size() == m.scores.size() && m.pieces.size() == m.types.size());
  std::string out;
  for (size_t i = 0; i < m.pieces.size(); ++i) {
    std::string piece;
    put_bytes(piece, 1, m.pieces[i]);
    put_float(piece, 2, m.scores[i]);
    put_int(piece, 3, m.types[i]);
    put_bytes(out, 1, piece);
  }
  std::string trainer;
  put_int(trainer, 3, m.model_type);
  put_int(trainer, 4, static_cast<int64_t>(m.pieces.size()));
  put_int(trainer, 35, m.byte_fallback ? 1 : 0);
  put_int(trainer, 40, m.unk_id);
  put_int(trainer, 41, m.bos_id);
  put_int(trainer, 42, m.eos_id);
  put_int(trainer, 43, m.pad_id);
  put_bytes(out, 2, trainer);
  // The llama normalizer: no NFKC table, a leading "▁" and spaces escaped as "▁".
  std::string normalizer;
  put_bytes(normalizer, 1, "identity");
  put_int(normalizer, 3, 1);
  put_int(normalizer, 4, 0);
  put_int(normalizer, 5, 1);
  put_bytes(out, 3, normalizer);
  return out;
}

SpmModel spm_model_from_bytes(const std::string& bytes, const std::string& what) {
  SpmModel m;
  Reader r{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 0, what};
  while (!r.done()) {
    const uint64_t key = r.varint();
    const uint32_t field = static_cast<uint32_t>(key >> 3), wire = static_cast<uint32_t>(key & 7);
    if (field == 1 && wire == kLen) read_piece(r.sub(), m);
    else if (field == 2 && wire == kLen) read_trainer_spec(r.sub(), m);
    else r.skip(wire);
  }
  if (m.pieces.empty()) fail(what, ": SentencePiece model has no pieces");
  return m;
}

}  // namespace bitdial
