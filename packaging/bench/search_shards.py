#!/usr/bin/env python3
"""Multi-shard search benchmark: `kestrel search` (streamed) against DuckDB's exact top-k
over the same synthetic shards, in one run: wall time, peak memory (GNU time's max RSS),
and whether the two top-k lists agree.

The shards are written with pyarrow in Kestrel's format 2 (what a pyarrow rewrite looks
like: no Kestrel content digest), for the tiny test model so the real binary can search
them with its real checkpoint check: random unit vectors of its 32 dimensions.

    python packaging/bench/search_shards.py --kestrel target/release/kestrel \
        --shards 100 --rows 10000      # 1 M tiles

Needs duckdb and pyarrow (packaging/requirements-interop.txt) and /usr/bin/time.
"""
import argparse, json, os, subprocess, sys, tempfile, time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(REPO, "tests/fixtures/msclip_tiny/msclip_random.safetensors")
V1 = os.path.join(REPO, "tests/fixtures/index_v1/282D_485L_3_3.parquet")


def write_shards(folder, shards, rows, dim, seed=0):
    base = json.loads(pq.read_schema(V1).metadata[b"kestrel"])
    rng = np.random.default_rng(seed)
    paths = []
    for s in range(shards):
        meta = dict(base, format_version=2, scene_identity=f"synthetic-{s:05d}",
                    precision="f32", product_id=None, mgrs_tile=None, sensing_time=None)
        e = rng.standard_normal((rows, dim), dtype=np.float32)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        r = np.arange(rows, dtype=np.int32)
        lon = 10.0 + (r % 100) * 0.02
        lat = 45.0 + (r // 100) * 0.02
        ring = np.stack([lon, lat, lon + 0.02, lat, lon + 0.02, lat + 0.02, lon, lat + 0.02,
                         lon, lat], axis=1)
        wkb = [b"\x01\x03\x00\x00\x00\x01\x00\x00\x00\x05\x00\x00\x00" + ring[i].tobytes()
               for i in range(rows)]
        f64 = lambda v: pa.array(np.asarray(v, dtype=np.float64))
        t = pa.table({
            "geometry": pa.array(wkb, pa.binary()),
            "bbox": pa.StructArray.from_arrays([f64(lon), f64(lat), f64(lon + 0.02), f64(lat + 0.02)],
                                               names=["xmin", "ymin", "xmax", "ymax"]),
            "scene_id": pa.array([meta["scene_identity"]] * rows),
            "tile_row": pa.array(r // 100), "tile_col": pa.array(r % 100),
            "px_x0": pa.array((r % 100).astype(np.int64) * 224),
            "px_y0": pa.array((r // 100).astype(np.int64) * 224),
            "px_width": pa.array(np.full(rows, 224, np.int32)),
            "px_height": pa.array(np.full(rows, 224, np.int32)),
            "crs_minx": f64(r * 1.0), "crs_miny": f64(r * 1.0),
            "crs_maxx": f64(r + 1.0), "crs_maxy": f64(r + 1.0),
            "centre_lon": f64(lon + 0.01), "centre_lat": f64(lat + 0.01),
            "nodata_fraction": pa.array(np.zeros(rows, np.float32)),
            "cloud_fraction": pa.array([None] * rows, pa.float32()),
            "status": pa.array(["embedded"] * rows),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(e.reshape(-1)), dim),
        })
        t = t.replace_schema_metadata({"kestrel": json.dumps(meta)})
        p = os.path.join(folder, f"{meta['scene_identity']}.parquet")
        pq.write_table(t, p, row_group_size=1024, compression="zstd")
        paths.append(p)
    return paths


def timed(cmd):
    """(seconds, peak RSS MB, stdout) of a command under GNU time."""
    t0 = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {out.stderr[-2000:]}")
    rss_kb = int(out.stderr.strip().splitlines()[-1])
    return wall, rss_kb / 1024, out.stdout


DUCK = r"""
import json, sys, duckdb
q, glob, k = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
n = len(q)
rows = duckdb.connect().execute(
    f"SELECT scene_id, tile_row, tile_col, array_cosine_similarity(embedding::FLOAT[{n}], $q::FLOAT[{n}]) AS s "
    "FROM read_parquet($p) WHERE status = 'embedded' ORDER BY s DESC LIMIT $k",
    {"q": q, "p": glob, "k": k}).fetchall()
print(json.dumps(rows))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kestrel", default=os.path.join(REPO, "target/release/kestrel"))
    ap.add_argument("--shards", type=int, default=100)
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        paths = write_shards(d, a.shards, a.rows, 32)
        size = sum(os.path.getsize(p) for p in paths) / 1e6
        print(f"{a.shards} shards x {a.rows} tiles = {a.shards * a.rows} tiles, {size:.0f} MB, "
              f"written in {time.perf_counter() - t0:.1f} s")
        q = json.loads(subprocess.run([a.kestrel, "embed-text", "--json", "--model", TINY, "a river"],
                                      capture_output=True, text=True, check=True).stdout)["embedding"]
        kw, km, kout = timed([a.kestrel, "search", "--json", "--model", TINY, "--query", "a river",
                              "--top", str(a.top)] + paths)
        dw, dm, dout = timed([sys.executable, "-c", DUCK, json.dumps(q), os.path.join(d, "*.parquet"),
                              str(a.top)])
        ours = [(r["scene_id"], r["row"], r["col"]) for r in map(json.loads, kout.splitlines())]
        duck = [tuple(r[:3]) for r in json.loads(dout)]
        print(f"kestrel search: {kw:.2f} s, peak {km:.0f} MB")
        print(f"DuckDB exact:   {dw:.2f} s, peak {dm:.0f} MB")
        print(f"ratio (kestrel / DuckDB): time {kw / dw:.2f}x, memory {km / dm:.2f}x; "
              f"top-{a.top} {'identical' if ours == duck else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
