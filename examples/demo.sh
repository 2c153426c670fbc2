#!/usr/bin/env bash
# The bitdial demo, as far as the tool is built today: inspect a real model, convert it to a Hugging
# Face folder (safetensors + config.json + tokenizer.json) and back to GGUF, and show that the tensors
# and hyper-parameters survived the round trip byte for byte.
# Usage: examples/demo.sh   (BITDIAL=path/to/bitdial, MODEL=path/to/model.gguf to override)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BITDIAL=${BITDIAL:-$here/build/bitdial}
MODEL=${MODEL:-$here/../shared/models/stories260K.gguf}
if [[ ! -f "$MODEL" ]]; then
  echo "demo: no model at $MODEL; run with MODEL=path/to/model.gguf make demo" >&2
  exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/bitdial-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== bitdial inspect $(basename "$MODEL")"
"$BITDIAL" inspect "$MODEL" | sed -n '1,/^tensors/p' | head -40
"$BITDIAL" inspect "$MODEL" | sed -n '/^totals/,$p'

echo
echo "== bitdial convert $(basename "$MODEL") -> Hugging Face folder"
"$BITDIAL" convert "$MODEL" "$work/hf"
ls -l "$work/hf"

echo
echo "== bitdial convert folder -> GGUF"
"$BITDIAL" convert "$work/hf" "$work/back.gguf"

echo
echo "== round trip check (tensor bytes and hyper-parameters)"
"$BITDIAL" inspect --json "$MODEL" > "$work/a.json"
"$BITDIAL" inspect --json "$work/back.gguf" > "$work/b.json"
python3 - "$work/a.json" "$work/b.json" <<'PY' || true
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
keys = [k for k in a["metadata"] if k.startswith("llama.")]
same_hp = all(a["metadata"][k] == b["metadata"].get(k) for k in keys)
ta = {t["name"]: (t["type"], t["shape"], t["bytes"]) for t in a["tensors"]}
tb = {t["name"]: (t["type"], t["shape"], t["bytes"]) for t in b["tensors"]}
print(f"hyper-parameters identical: {same_hp} ({len(keys)} keys)")
print(f"tensor table identical:     {ta == tb} ({len(ta)} tensors)")
PY
"$BITDIAL" convert "$MODEL" "$work/a.safetensors" >/dev/null 2>&1
"$BITDIAL" convert "$work/back.gguf" "$work/b.safetensors" >/dev/null 2>&1
python3 - "$work/a.safetensors" "$work/b.safetensors" <<'PY'
import json, struct, sys
def tensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
print(f"tensor bytes identical:     {a == b} ({sum(len(v) for v in a.values())} bytes)")
PY
