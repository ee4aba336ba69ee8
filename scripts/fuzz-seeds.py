#!/usr/bin/env python3
"""Builds the committed seed corpus fuzz/seeds/<set>/ (`messages` seeds both decode
and translate_request) from fixtures/messages and
fixtures/cases.toml, in the framing of fuzz/src/lib.rs (`CT:<type>\\n` line, two
messages joined by the SPLIT line). Deterministic: rerunning rewrites the same files.
Usage: scripts/fuzz-seeds.py"""
import hashlib
import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPLIT = b"\n--8<--\n"
OUT = ROOT / "fuzz" / "seeds"


def framed(path, ct):
    body = (ROOT / "fixtures" / path).read_bytes()
    return (b"CT:" + ct.encode() + b"\n" + body) if ct else body


def write(target, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


cases = tomllib.loads((ROOT / "fixtures" / "cases.toml").read_text())["case"]
cts = {c["file"]: c.get("content_type") for c in cases}
for f in sorted((ROOT / "fixtures" / "messages").rglob("*")):
    if not f.is_file():
        continue
    rel = str(f.relative_to(ROOT / "fixtures"))
    one = framed(rel, cts.get(rel))
    write("messages", one)  # decode and translate_request
    if rel.startswith("messages/multipart/"):
        write("multipart", one)
for c in cases:
    if c.get("request"):
        resp = framed(c["file"], c.get("content_type"))
        req = framed(c["request"], None)
        write("translate_response", resp + SPLIT + req)
# The comparer gets pairs of answers from the compare fixtures (primary vs shadow).
for d in sorted((ROOT / "fixtures" / "compare").iterdir()):
    if d.is_dir():
        files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix in (".xml", ".html"))
        for a in files:
            for b in files:
                if a != b:
                    write("compare", a.read_bytes() + SPLIT + b.read_bytes())
