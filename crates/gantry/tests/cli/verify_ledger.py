#!/usr/bin/env python3
"""An independent verifier of gantry ledgers, written from crates/ledger/FORMAT.md alone.

    verify_ledger.py LEDGER...

prints one JSON line per file: {"file", "ok", "entries", "line", "check", "message"}, where
`line` is the first line that fails (null if none). Needs PyPI `rfc8785` and `cryptography`
(whose Ed25519 is OpenSSL's). Shares no code with gantry.
"""

import base64
import datetime
import hashlib
import json
import re
import sys

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "gantry-ledger/v1"
CONTEXT = b"gantry-ledger/v1\x00"
ZERO = "0" * 64
ENTRY_FIELDS = ["seq", "ts", "kind", "actor", "body", "prev", "hash", "sig"]
ACTOR_FIELDS = ["role", "id", "key"]
SAFE = 2**53 - 1
ORDER = 2**252 + 27742317777372353535851937790883648493
P = 2**255 - 19
D = (-121665 * pow(121666, P - 2, P)) % P
SMALL_ORDER = {
    bytes.fromhex(h)
    for h in [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    ]
}
TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
KIND = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
HEX64 = re.compile(r"[0-9a-f]{64}")
SYSTEM = "gantry"
SIG_PREFIX = "\u2014 "


class Fail(Exception):
    def __init__(self, check, message):
        super().__init__(message)
        self.check = check
        self.message = message


def b64(s, what):
    """Standard padded base64, in its one canonical spelling."""
    try:
        raw = base64.b64decode(s, validate=True)
    except Exception:
        raise Fail("parse", f"{what} is not base64")
    if base64.b64encode(raw).decode() != s:
        raise Fail("parse", f"{what} is not canonical base64")
    return raw


def fingerprint(pub):
    return "SHA256:" + base64.b64encode(hashlib.sha256(pub).digest()).decode().rstrip("=")


def is_point(enc):
    """RFC 8032 section 5.1.3 decoding succeeds."""
    y = int.from_bytes(enc, "little") & ((1 << 255) - 1)
    sign = enc[31] >> 7
    if y >= P:
        return False
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x2 = u * pow(v, P - 2, P) % P
    if x2 == 0:
        return sign == 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * pow(2, (P - 1) // 4, P) % P
    return (x * x - x2) % P == 0


def strict_verify(pub, msg, sig):
    """FORMAT.md *Signatures*: s < l, no small-order A or R, cofactorless equation."""
    if len(sig) != 64 or len(pub) != 32:
        return False
    if int.from_bytes(sig[32:], "little") >= ORDER:
        return False
    if pub in SMALL_ORDER or sig[:32] in SMALL_ORDER or not is_point(pub):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
        return True
    except (InvalidSignature, ValueError):
        return False


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise Fail("parse", f"duplicate key {dup!r}")
    return dict(pairs)


def refuse_constant(name):
    raise Fail("parse", f"{name} is not JSON")


def check_numbers(v, path):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return
    if isinstance(v, (int, float)):
        if not abs(v) <= SAFE:
            raise Fail("parse", f"{path}: number beyond 2^53-1")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            check_numbers(x, f"{path}[{i}]")
    elif isinstance(v, dict):
        for k, x in v.items():
            check_numbers(x, f"{path}.{k}")


def jcs(v):
    try:
        return rfc8785.dumps(v).decode()
    except Exception as e:
        raise Fail("parse", f"not canonicalizable: {e}")


def parse(raw):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Fail("parse", "not UTF-8")
    try:
        e = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=refuse_constant)
    except ValueError as err:
        raise Fail("parse", f"not JSON: {err}")
    if not isinstance(e, dict) or list(e) != ENTRY_FIELDS:
        raise Fail("parse", "fields missing, extra or out of order")
    seq = e["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise Fail("parse", "seq is not a count")
    for f in ["ts", "kind", "prev", "hash", "sig"]:
        if not isinstance(e[f], str):
            raise Fail("parse", f"{f} is not a string")
    actor = e["actor"]
    if not isinstance(actor, dict) or list(actor) != ACTOR_FIELDS:
        raise Fail("parse", "actor fields missing, extra or out of order")
    if any(not isinstance(actor[f], str) or not actor[f] for f in ACTOR_FIELDS):
        raise Fail("parse", "actor fields must be non-empty strings")
    if not TS.fullmatch(e["ts"]):
        raise Fail("parse", "ts shape")
    try:
        datetime.datetime.strptime(e["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        raise Fail("parse", "ts is not a calendar time")
    if not KIND.fullmatch(e["kind"]):
        raise Fail("parse", "kind shape")
    check_numbers(seq, "seq")
    check_numbers(e["body"], "body")
    canonical = (
        '{"seq":' + jcs(seq) + ',"ts":' + jcs(e["ts"]) + ',"kind":' + jcs(e["kind"])
        + ',"actor":{"role":' + jcs(actor["role"]) + ',"id":' + jcs(actor["id"])
        + ',"key":' + jcs(actor["key"]) + '},"body":' + jcs(e["body"])
        + ',"prev":' + jcs(e["prev"]) + ',"hash":' + jcs(e["hash"])
        + ',"sig":' + jcs(e["sig"]) + "}"
    )
    if canonical != text:
        raise Fail("parse", "not the canonical line")
    return e


def exact(body, fields, kind, check):
    if not isinstance(body, dict) or set(body) != set(fields):
        raise Fail(check, f"{kind} body must have exactly {fields}")


def string_field(body, name, check):
    v = body.get(name)
    if not isinstance(v, str):
        raise Fail(check, f"body.{name} is not a string")
    return v


def body_key(body, check):
    pub = b64(string_field(body, "public_key", check), "public_key")
    if len(pub) != 32 or not is_point(pub) or pub in SMALL_ORDER:
        raise Fail(check, "public_key is not a usable Ed25519 key")
    fp = fingerprint(pub)
    if string_field(body, "fingerprint", check) != fp:
        raise Fail(check, "fingerprint does not match public_key")
    return pub, fp


class Tree:
    """RFC 6962 Merkle tree over the entries' raw hashes."""

    def __init__(self):
        self.leaves = []

    def push(self, entry_hash):
        self.leaves.append(hashlib.sha256(b"\x00" + entry_hash).digest())

    def root(self):
        def mth(d):
            if not d:
                return hashlib.sha256(b"").digest()
            if len(d) == 1:
                return d[0]
            k = 1
            while k * 2 < len(d):
                k *= 2
            return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()

        return mth(self.leaves)


def open_note(note, origin, pub):
    """C2SP signed note by key name `origin`; returns (size, root)."""
    at = note.find("\n\n")
    if at < 0:
        raise Fail("seal", "note has no blank line")
    text, sigs = note[: at + 1], note[at + 2 :]
    if not sigs.endswith("\n"):
        raise Fail("seal", "signature block does not end in newline")
    key_id = hashlib.sha256(origin.encode() + b"\n\x01" + pub).digest()[:4]
    verified = False
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise Fail("seal", "malformed signature line")
        name, sep, blob = line[len(SIG_PREFIX):].partition(" ")
        if not sep:
            raise Fail("seal", "malformed signature line")
        if name != origin:
            continue
        raw = b64(blob, "note signature")
        if len(raw) != 68 or raw[:4] != key_id:
            continue
        if not strict_verify(pub, text.encode(), raw[4:]):
            raise Fail("seal", "note signature does not verify")
        verified = True
    if not verified:
        raise Fail("seal", "note not signed by the key")
    lines = text.split("\n")
    if len(lines) < 4 or lines[0] != origin:
        raise Fail("seal", "note origin")
    size = lines[1]
    if not re.fullmatch(r"0|[1-9][0-9]*", size):
        raise Fail("seal", "note size")
    root = b64(lines[2], "note root")
    if len(root) != 32:
        raise Fail("seal", "note root size")
    return int(size), root


class Verifier:
    def __init__(self):
        self.keys = {}  # fingerprint -> dict(role, id, pub, frm, until)
        self.origin = None
        self.seq = 0
        self.last = ZERO
        self.tree = Tree()

    def key_for(self, actor, seq):
        rec = self.keys.get(actor["key"])
        if rec is None:
            raise Fail("key", "key not registered")
        if (rec["role"], rec["id"]) != (actor["role"], actor["id"]):
            raise Fail("key", "key registered to another role or id")
        if seq < rec["frm"] or (rec["until"] is not None and seq > rec["until"]):
            raise Fail("key", "key not valid at this seq")
        return rec["pub"]

    def insert(self, fp, role, ident, pub, frm):
        if fp in self.keys:
            raise Fail("key", "fingerprint registered twice")
        self.keys[fp] = {"role": role, "id": ident, "pub": pub, "frm": frm, "until": None}

    def genesis(self, e):
        actor, body = e["actor"], e["body"]
        if (actor["role"], actor["id"]) != (SYSTEM, SYSTEM):
            raise Fail("genesis", "genesis actor")
        exact(body, ["format", "origin", "public_key", "fingerprint"], "genesis", "genesis")
        if string_field(body, "format", "genesis") != FORMAT:
            raise Fail("genesis", "format")
        origin = string_field(body, "origin", "genesis")
        if not origin or any(c in origin for c in " +\n"):
            raise Fail("genesis", "origin")
        pub, fp = body_key(body, "genesis")
        if actor["key"] != fp:
            raise Fail("genesis", "genesis not signed by its own key")
        self.origin = origin
        self.insert(fp, SYSTEM, SYSTEM, pub, 1)

    def registry(self, e):
        kind, body, seq = e["kind"], e["body"], e["seq"]
        if kind not in ("agent.registered", "agent.rotated"):
            return
        if e["actor"]["role"] != SYSTEM:
            raise Fail("key", f"{kind} not by the system key")
        if kind == "agent.registered":
            exact(body, ["role", "id", "public_key", "fingerprint"], kind, "key")
            role, ident = string_field(body, "role", "key"), string_field(body, "id", "key")
            if not role or not ident or role == SYSTEM:
                raise Fail("key", "role/id")
            pub, fp = body_key(body, "key")
            self.insert(fp, role, ident, pub, seq + 1)
        else:
            fields = ["role", "id", "old_fingerprint", "public_key", "fingerprint"]
            exact(body, fields, kind, "key")
            role, ident = string_field(body, "role", "key"), string_field(body, "id", "key")
            old = self.keys.get(string_field(body, "old_fingerprint", "key"))
            if old is None or (old["role"], old["id"]) != (role, ident) or old["until"] is not None:
                raise Fail("key", "old key")
            pub, fp = body_key(body, "key")
            if fp in self.keys:
                raise Fail("key", "new key already registered")
            old["until"] = seq
            self.insert(fp, role, ident, pub, seq + 1)

    def seal(self, e, pub):
        body = e["body"]
        if e["actor"]["role"] != SYSTEM:
            raise Fail("seal", "seal not by the system key")
        exact(body, ["size", "root", "checkpoint"], "seal", "seal")
        size = body["size"]
        if isinstance(size, bool) or not isinstance(size, int):
            raise Fail("seal", "size")
        if size != e["seq"] - 1 or size != len(self.tree.leaves):
            raise Fail("seal", "size is not all entries before the seal")
        root = self.tree.root()
        if body["root"] != base64.b64encode(root).decode():
            raise Fail("seal", "root")
        if not isinstance(body["checkpoint"], str):
            raise Fail("seal", "checkpoint")
        if open_note(body["checkpoint"], self.origin, pub) != (size, root):
            raise Fail("seal", "checkpoint differs from the seal")

    def line(self, raw):
        e = parse(raw)
        seq = e["seq"]
        if seq != self.seq + 1:
            raise Fail("seq", f"expected {self.seq + 1}")
        if e["prev"] != self.last:
            raise Fail("prev", "prev")
        if not HEX64.fullmatch(e["hash"]):
            raise Fail("hash", "hash format")
        hashed = {k: e[k] for k in ["seq", "ts", "kind", "actor", "body", "prev"]}
        if hashlib.sha256(rfc8785.dumps(hashed)).hexdigest() != e["hash"]:
            raise Fail("hash", "hash")
        if (seq == 1) != (e["kind"] == "ledger.genesis"):
            raise Fail("genesis", "entry 1, and only entry 1, is the genesis")
        if seq == 1:
            self.genesis(e)
        pub = self.key_for(e["actor"], seq)
        sig = b64(e["sig"], "sig")
        msg = CONTEXT + bytes.fromhex(e["hash"])
        if not strict_verify(pub, msg, sig):
            raise Fail("signature", "signature")
        if seq != 1:
            self.registry(e)
        if e["kind"] == "ledger.sealed":
            self.seal(e, pub)
        self.seq, self.last = seq, e["hash"]
        self.tree.push(bytes.fromhex(e["hash"]))


def verify(path):
    data = open(path, "rb").read()
    # Bytes after the last newline are a torn write: ignored.
    complete = data[: data.rfind(b"\n") + 1]
    v = Verifier()
    lines = complete.split(b"\n")[:-1]
    for n, raw in enumerate(lines, start=1):
        try:
            v.line(raw)
        except Fail as f:
            return {"ok": False, "entries": n - 1, "line": n, "check": f.check, "message": f.message}
    if not lines:
        return {"ok": False, "entries": 0, "line": 1, "check": "genesis", "message": "empty"}
    return {"ok": True, "entries": len(lines), "line": None, "check": None, "message": None}


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(json.dumps({"file": path, **verify(path)}), flush=True)
