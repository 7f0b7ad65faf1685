#!/usr/bin/env bash
# Records and verifies the same N signed steps with in-toto (in-toto-run / in-toto-verify)
# and with gantry (ledger append / ledger verify), whole processes on both sides, and prints
# both times and the ratio. Usage: bench/vs-in-toto.sh [N]   (default 200)
set -euo pipefail
N=${1:-200}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v in-toto-run >/dev/null || python3 -m pip install --quiet in-toto
cargo build --release --quiet -p gantry --manifest-path "$root/Cargo.toml"
gantry="${CARGO_TARGET_DIR:-$root/target}/release/gantry"

work=$(mktemp -d -t gantry-vs-intoto-XXXXXX)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }

# gantry: a project whose operator key also signs the in-toto links, so both sides use the
# same Ed25519 key.
mkdir "$work/gantry" "$work/intoto"
"$gantry" -C "$work/gantry" init --project bench >/dev/null
cp "$work/gantry/.gantry/keys/operator.pem" "$work/intoto/key.pem"

t0=$(now)
for i in $(seq "$N"); do
  "$gantry" -C "$work/gantry" ledger append --as operator --kind step.done --body "{\"step\":$i}" >/dev/null
done
t1=$(now)
"$gantry" -C "$work/gantry" ledger verify >/dev/null
t2=$(now)

cd "$work/intoto"
t3=$(now)
for i in $(seq "$N"); do
  in-toto-run -n "step$i" --signing-key key.pem -- true
done
t4=$(now)
# The layout naming N steps, signed by the same key (layout creation is not timed).
python3 - "$N" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from in_toto.models.layout import Layout, Step
from in_toto.models.metadata import Metablock
from securesystemslib.signer import CryptoSigner
priv = load_pem_private_key(open("key.pem", "rb").read(), None)
signer = CryptoSigner(priv)
keyid = signer.public_key.keyid
layout = Layout()
layout.set_relative_expiration(days=1)
key = signer.public_key.to_dict()
key["keyid"] = keyid
layout.keys[keyid] = key
for i in range(1, int(sys.argv[1]) + 1):
    step = Step(name=f"step{i}", expected_command=["true"])
    step.pubkeys = [keyid]
    layout.steps.append(step)
block = Metablock(signed=layout)
block.create_signature(signer)
block.dump("root.layout")
open("pub.pem", "wb").write(priv.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
PY
t5=$(now)
in-toto-verify --layout root.layout --verification-keys pub.pem >/dev/null 2>&1
t6=$(now)

g_rec=$(elapsed "$t0" "$t1"); g_ver=$(elapsed "$t1" "$t2")
i_rec=$(elapsed "$t3" "$t4"); i_ver=$(elapsed "$t5" "$t6")
python3 - "$N" "$g_rec" "$g_ver" "$i_rec" "$i_ver" <<'PY'
import sys
n = int(sys.argv[1]); g_rec, g_ver, i_rec, i_ver = map(float, sys.argv[2:])
print(f"{n} signed steps, whole processes on both sides")
print(f"{'':10}{'record (s)':>12}{'per step (ms)':>15}{'verify (s)':>12}")
print(f"{'gantry':10}{g_rec:12.3f}{g_rec / n * 1000:15.2f}{g_ver:12.3f}")
print(f"{'in-toto':10}{i_rec:12.3f}{i_rec / n * 1000:15.2f}{i_ver:12.3f}")
print(f"ratio in-toto/gantry: record {i_rec / g_rec:.1f}x, verify {i_ver / g_ver:.1f}x")
PY
