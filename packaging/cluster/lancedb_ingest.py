#!/usr/bin/env python3
"""Kestrel shards into LanceDB, and search them: interactive search over an archive.

Ingest: appends the embedded tiles of GeoParquet shards Kestrel wrote (`kestrel index
--out-dir`; `embedding` is `fixed_size_list<float>[N]`, which LanceDB takes as a vector
column as it is) to a LanceDB table, then builds an IVF_PQ index with the cosine metric.
Re-ingesting a shard replaces its scene's rows (rows are keyed by `scene_id`), so the ingest
of a retried job does not duplicate tiles. Tiles without an embedding (skipped for nodata or
cloud) are left out.

    python packaging/cluster/lancedb_ingest.py --db archive.lance --table tiles shards/*.parquet

Search: the query vectors are JSON lines, one per query, from a file or `-` (stdin): each a
list of floats or an object with an `embedding` (what `kestrel embed-text --json` prints), so

    kestrel embed-text --json --model msclip "flooded fields" |
      python packaging/cluster/lancedb_ingest.py --db archive.lance --table tiles \\
        --query-vector-json - --k 10

prints one JSON line per result: query, rank, scene_id, tile_row, tile_col, centre_lon,
centre_lat, datetime, distance (cosine distance, 1 - similarity) and score (similarity).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

# the shard columns kept in the table (those a shard has), `embedding` and the key required
KEEP = ["scene_id", "product_id", "mgrs_tile", "datetime", "tile_row", "tile_col",
        "px_x0", "px_y0", "px_width", "px_height", "centre_lon", "centre_lat",
        "nodata_fraction", "cloud_fraction", "bbox", "geometry", "embedding"]
REQUIRED = ["scene_id", "tile_row", "tile_col", "embedding"]
RESULT = ["scene_id", "tile_row", "tile_col", "centre_lon", "centre_lat", "datetime"]


def read_shard(path: str):
    """The embedded tiles of one shard, with the KEEP columns and no schema metadata."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    missing = [c for c in REQUIRED if c not in schema.names]
    if missing:
        raise ValueError(f"{path}: not a Kestrel shard (no {', '.join(missing)} column)")
    emb = schema.field("embedding").type
    if not hasattr(emb, "list_size"):
        raise ValueError(f"{path}: `embedding` is {emb}, not a fixed-size list (a shard "
                         "from an old Kestrel? re-index it)")
    t = pq.read_table(path, columns=[c for c in KEEP if c in schema.names])
    t = t.filter(pc.is_valid(t.column("embedding")))
    return t.replace_schema_metadata(None)


def sub_vectors(dim: int) -> int:
    """PQ sub-vectors: 4 dimensions each for small vectors, 8 from 256 dimensions, and a
    divisor of `dim`."""
    m = max(1, dim // (8 if dim >= 256 else 4))
    while dim % m:
        m -= 1
    return m


def ingest(a: argparse.Namespace) -> int:
    import lancedb

    db = lancedb.connect(a.db)
    try:
        tbl = db.open_table(a.table)
    except ValueError:  # "Table ... was not found"
        tbl = None
    if tbl is not None and a.overwrite:
        db.drop_table(a.table)
        tbl = None
    rows = 0
    started = time.monotonic()
    for path in a.shards:
        t = read_shard(path)
        if t.num_rows == 0:
            print(f"lancedb_ingest: {path}: no embedded tile", file=sys.stderr)
            continue
        if tbl is None:
            tbl = db.create_table(a.table, data=t)
        else:
            scenes = sorted(set(t.column("scene_id").to_pylist()))
            quoted = ", ".join("'" + s.replace("'", "''") + "'" for s in scenes)
            tbl.delete(f"scene_id IN ({quoted})")
            tbl.add(t)
        rows += t.num_rows
    if tbl is None:
        print("lancedb_ingest: no rows to ingest", file=sys.stderr)
        return 2
    total = tbl.count_rows()
    dim = tbl.schema.field("embedding").type.list_size
    report = {"event": "ingested", "table": a.table, "rows_added": rows, "rows": total,
              "dim": dim, "seconds": round(time.monotonic() - started, 3)}
    print(json.dumps(report))
    if a.no_index:
        return 0
    if total < 256:
        print(f"lancedb_ingest: {total} rows: too few for an IVF_PQ index (256 at least); "
              "searches are exact", file=sys.stderr)
        return 0
    started = time.monotonic()
    partitions = a.partitions or max(1, min(4096, round(math.sqrt(total))))
    m = a.sub_vectors or sub_vectors(dim)
    from lancedb.index import IvfPq

    tbl.create_index("embedding", replace=True, config=IvfPq(
        distance_type="cosine", num_partitions=partitions, num_sub_vectors=m))
    print(json.dumps({"event": "indexed", "index": "IVF_PQ", "metric": "cosine",
                      "num_partitions": partitions, "num_sub_vectors": m,
                      "seconds": round(time.monotonic() - started, 3)}))
    return 0


def query_vectors(source: str) -> list[tuple[list[float], str | None]]:
    f = sys.stdin if source == "-" else open(source, encoding="utf-8")
    out = []
    with f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            v = json.loads(line)
            if isinstance(v, dict):
                out.append((v["embedding"], v.get("text")))
            else:
                out.append((v, None))
    return out


def search(a: argparse.Namespace) -> int:
    import lancedb

    tbl = lancedb.connect(a.db).open_table(a.table)
    for qi, (vec, text) in enumerate(query_vectors(a.query_vector_json)):
        q = (tbl.search(vec, vector_column_name="embedding").distance_type("cosine")
             .nprobes(a.nprobes).refine_factor(a.refine_factor).limit(a.k)
             .select(RESULT + ["_distance"]))
        if a.where:
            # a narrow filter may leave the probed partitions without k rows: probe more
            q = q.where(a.where, prefilter=True).minimum_nprobes(a.nprobes).maximum_nprobes(0)
        for rank, r in enumerate(q.to_list()):
            line = {"query": qi, "rank": rank}
            if text is not None:
                line["text"] = text
            for c in RESULT:
                v = r.get(c)
                line[c] = v.isoformat() if hasattr(v, "isoformat") else v
            d = float(r["_distance"])
            line["distance"] = d
            line["score"] = 1.0 - d
            print(json.dumps(line))
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True, help="the LanceDB folder (or URI)")
    p.add_argument("--table", default="tiles", help="the table (default tiles)")
    p.add_argument("shards", nargs="*", help="GeoParquet shards to append")
    p.add_argument("--overwrite", action="store_true", help="drop the table first")
    p.add_argument("--no-index", action="store_true", help="append only")
    p.add_argument("--partitions", type=int, help="IVF partitions (default sqrt(rows))")
    p.add_argument("--sub-vectors", type=int,
                   help="PQ sub-vectors (default: dim/4, from 256 dimensions dim/8)")
    p.add_argument("--query-vector-json", metavar="FILE",
                   help="search mode: query vectors as JSON lines ('-' = stdin)")
    p.add_argument("--k", type=int, default=10, help="results per query (default 10)")
    p.add_argument("--nprobes", type=int, default=20,
                   help="IVF partitions searched (default 20)")
    p.add_argument("--refine-factor", type=int, default=10,
                   help="re-rank k * this many PQ candidates exactly (default 10)")
    p.add_argument("--where", help="an SQL filter, e.g. \"cloud_fraction < 0.1\"")
    a = p.parse_args(argv)
    try:
        if a.query_vector_json:
            if a.shards:
                p.error("give shards (ingest) or --query-vector-json (search), not both")
            return search(a)
        if not a.shards:
            p.error("no shard given")
        return ingest(a)
    except (OSError, ValueError) as e:
        print(f"lancedb_ingest: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
