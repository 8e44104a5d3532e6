"""Vendor what the package ships to a browser, from the npm registry: the explorers' chart library, uPlot, into
ddpm_edu/static/vendor, and the slides' reveal.js (5.2.1: the dist/ and plugin/ layout nbconvert's reveal template
expects; reveal.js 6 moved its files) into ddpm_edu/static/vendor/reveal.js.

    python scripts/vendor_js.py            download the pinned tarballs, check the registry's integrity hashes,
                                           write the files and a vendor.json beside them
    python scripts/vendor_js.py --check    offline: check the files in the package against their vendor.json

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
# each: name, version, license, the registry's dist.integrity (npm view NAME@VERSION dist.integrity), the folder,
# and the files taken from the tarball (member -> name in the folder)
VENDORED = [
    dict(package="uplot", version="1.6.32", license="MIT", folder=VENDOR,
         integrity="sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==",
         files={"package/dist/uPlot.iife.min.js": "uPlot.iife.min.js", "package/dist/uPlot.min.css": "uPlot.min.css",
                "package/LICENSE": "LICENSE-uPlot.txt"}),
    dict(package="reveal.js", version="5.2.1", license="MIT (the Source Sans Pro font: SIL OFL 1.1)",
         folder=VENDOR / "reveal.js",
         integrity="sha512-r7//6mIM5p34hFiDMvYfXgyjXqGRta+/psd9YtytsgRlrpRzFv4RbH76TXd2qD+7ZPZEbpBDhdRhJaFgfQ7zNQ==",
         files={f"package/{name}": name for name in (
             "LICENSE", "dist/reveal.js", "dist/reveal.css", "dist/theme/white.css", "plugin/notes/notes.js",
             "dist/theme/fonts/source-sans-pro/source-sans-pro.css", "dist/theme/fonts/source-sans-pro/LICENSE",
             *(f"dist/theme/fonts/source-sans-pro/source-sans-pro-{face}.woff"
               for face in ("regular", "italic", "semibold", "semibolditalic")))}),
]


def tarball(entry: dict) -> str:
    name = entry["package"]
    return f"https://registry.npmjs.org/{name}/-/{name}-{entry['version']}.tgz"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(entry: dict) -> dict:
    url, folder = tarball(entry), entry["folder"]
    with urllib.request.urlopen(url, timeout=60) as r:
        blob = r.read()
    got = "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()
    if got != entry["integrity"]:
        raise SystemExit(f"{url}: integrity {got} is not the pinned {entry['integrity']}")
    written = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for member, name in entry["files"].items():
            data = tar.extractfile(member).read()
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
            written[name] = sha256(data)
    record = {"package": entry["package"], "version": entry["version"], "license": entry["license"], "tarball": url,
              "integrity": entry["integrity"], "files": written, "made_by": "python scripts/vendor_js.py"}
    (folder / "vendor.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def check() -> list:
    """Problems with the vendored files (an empty list when every file matches its vendor.json)."""
    problems = []
    for entry in VENDORED:
        folder = entry["folder"]
        record = json.loads((folder / "vendor.json").read_text())
        for name, digest in record["files"].items():
            path = folder / name
            if not path.exists():
                problems.append(f"{entry['package']} {name}: missing")
            elif sha256(path.read_bytes()) != digest:
                problems.append(f"{entry['package']} {name}: its sha256 is not the one vendor.json records "
                                "(rerun scripts/vendor_js.py)")
        if record["version"] != entry["version"] or record["integrity"] != entry["integrity"]:
            problems.append(f"{folder / 'vendor.json'} names another version than this script pins")
        if sorted(record["files"]) != sorted(entry["files"].values()):
            problems.append(f"{folder / 'vendor.json'} lists other files than this script takes")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the vendored files (offline)")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        print("\n".join(problems) or ", ".join(f"{e['package']} {e['version']}" for e in VENDORED)
              + ": every vendored file matches its vendor.json")
        return 1 if problems else 0
    for entry in VENDORED:
        record = fetch(entry)
        print(f"vendored {entry['package']} {entry['version']} ({entry['license']}) into {entry['folder']}: "
              f"{', '.join(record['files'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
