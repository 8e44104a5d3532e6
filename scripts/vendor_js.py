"""Vendor the explorers' chart library, uPlot, from the npm registry into ddpm_edu/static/vendor.

    python scripts/vendor_js.py            download the pinned tarball, check the registry's integrity hash,
                                           write the files and ddpm_edu/static/vendor/vendor.json
    python scripts/vendor_js.py --check    offline: check the files in the package against vendor.json

What ships is pinned (name, version, the tarball's sha512 as the registry publishes it, a sha256 of each
file written) and comes with its license, so the wheel needs neither Node nor a network.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "ddpm_edu" / "static" / "vendor"
PACKAGE, VERSION, LICENSE = "uplot", "1.6.32", "MIT"
TARBALL = f"https://registry.npmjs.org/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz"
# the registry's dist.integrity for uplot@1.6.32 (npm view uplot@1.6.32 dist.integrity)
INTEGRITY = "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=="
FILES = {"package/dist/uPlot.iife.min.js": "uPlot.iife.min.js", "package/dist/uPlot.min.css": "uPlot.min.css",
         "package/LICENSE": "LICENSE-uPlot.txt"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch() -> dict:
    with urllib.request.urlopen(TARBALL, timeout=60) as r:
        blob = r.read()
    got = "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()
    if got != INTEGRITY:
        raise SystemExit(f"{TARBALL}: integrity {got} is not the pinned {INTEGRITY}")
    VENDOR.mkdir(parents=True, exist_ok=True)
    written = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for member, name in FILES.items():
            data = tar.extractfile(member).read()
            (VENDOR / name).write_bytes(data)
            written[name] = sha256(data)
    record = {"package": PACKAGE, "version": VERSION, "license": LICENSE, "tarball": TARBALL, "integrity": INTEGRITY,
              "files": written, "made_by": "python scripts/vendor_js.py"}
    (VENDOR / "vendor.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def check() -> list:
    """Problems with the vendored files (an empty list when every file matches vendor.json)."""
    record = json.loads((VENDOR / "vendor.json").read_text())
    problems = []
    for name, digest in record["files"].items():
        path = VENDOR / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif sha256(path.read_bytes()) != digest:
            problems.append(f"{name}: its sha256 is not the one vendor.json records (rerun scripts/vendor_js.py)")
    if record["version"] != VERSION or record["integrity"] != INTEGRITY:
        problems.append("vendor.json names another version than this script pins")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the vendored files (offline)")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        print("\n".join(problems) or f"{PACKAGE} {VERSION}: every vendored file matches vendor.json")
        return 1 if problems else 0
    record = fetch()
    print(f"vendored {PACKAGE} {VERSION} ({LICENSE}) into {VENDOR}: {', '.join(record['files'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
