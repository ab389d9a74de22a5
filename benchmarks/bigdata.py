"""Benchmark: a task set twice the size of the process's memory limit, trained and analysed.

Writes a float32 ``.npy`` file of ``--rows × --features`` inputs (default 1,179,648 × 256 =
1.21 GB) plus two targets (a 4-class label and a regression value), then runs, each in a
fresh subprocess whose private memory is capped with ``resource.setrlimit`` at
``--limit-mb`` (default 600 MB, half the file):

- ``load``: the in-memory path, ``TaskSet.from_arrays(np.load(x))`` — expected to fail;
- ``stats``: ``TaskSet.from_npy`` (memory-mapped) and
  :func:`tasklens.linear.task_correlations` with ZCA whitening, which streams the file in
  chunks — time and rows/s;
- ``train``: ``--epochs`` epochs of EW on a small HPS model over the memory-mapped set
  (shuffled batches of ``--batch-size`` read from the file) — time per epoch;
- ``analyze`` (with ``--analyze``): ``tasklens analyze x.npy --task c:classification
  --task r --budget fast --executor serial`` in the capped process (out of core: streamed
  standardisation, fingerprint and theory, training from the memmap) — time per stage. Its
  baseline, without a limit: the same command on the first ``--baseline-rows`` rows, once
  as a ``.npz`` (in memory) and once as a ``.npy`` (out of core).

The limit is ``RLIMIT_DATA`` (heap and private anonymous mappings: what loading an array
needs), not ``RLIMIT_AS``: the address-space limit counts a memory-mapped file at its full
size, so a mapped file can never exceed it; the file's pages are the kernel's page cache,
reclaimable and shared. ``--parquet`` adds a Parquet copy of the file streamed row group by
row group under ``RLIMIT_AS`` (pyarrow reads with buffered I/O, no mapping): written twice
over (2.4 GB) with a limit of ``--as-limit-mb`` (1100 MB, of which numpy, pandas and
pyarrow take about 700 MB of address space before reading a row), next to the in-memory
``from_parquet`` under the same limit.

Baselines in the same run, without a limit: the same statistics with numpy on an in-memory
array (``task_correlations`` of an in-memory task set, ``--baseline-rows`` rows), and
training on the same in-memory rows, as rows/s. Files are deleted afterwards.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bigdata.py [--quick] [--parquet]
[--analyze] [--only-analyze]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLASSES = 4


def make_files(folder: Path, rows: int, features: int, seed: int = 0) -> None:
    """``x.npy`` (rows, features) float32, ``c.npy`` (4 classes), ``r.npy``, written in blocks."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(features, 2)) / np.sqrt(features)
    x = np.lib.format.open_memmap(folder / "x.npy", "w+", np.float32, (rows, features))
    c = np.empty(rows, np.int64)
    r = np.empty(rows, np.float32)
    for start in range(0, rows, 65536):
        stop = min(start + 65536, rows)
        block = rng.normal(size=(stop - start, features)).astype(np.float32)
        x[start:stop] = block
        z = block @ w
        c[start:stop] = np.digitize(z[:, 0], [-0.67, 0.0, 0.67])
        r[start:stop] = z[:, 1] + 0.1 * rng.normal(size=stop - start)
    x.flush()
    del x
    np.save(folder / "c.npy", c)
    np.save(folder / "r.npy", r)


def write_parquet(folder: Path, repeat: int = 2, row_group: int = 16384) -> Path:
    """``x.npy`` + targets as Parquet, ``repeat`` times over, one row group at a time
    (no compression, no dictionary: random normals compress to nothing)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    x = np.load(folder / "x.npy", mmap_mode="r")
    c, r = np.load(folder / "c.npy"), np.load(folder / "r.npy")
    names = [f"x{j}" for j in range(x.shape[1])]
    path = folder / "d.parquet"
    writer = None
    for start in list(range(0, len(x), row_group)) * repeat:
        stop = min(start + row_group, len(x))
        cols = [pa.array(np.ascontiguousarray(x[start:stop, j])) for j in range(x.shape[1])]
        table = pa.table(cols + [pa.array(c[start:stop]), pa.array(r[start:stop])],
                         names=[*names, "c", "r"])
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="none",
                                     use_dictionary=False)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return path


# ---------------------------------------------------------------- child processes
def _peaks_mb() -> dict:
    """Peak resident set (VmHWM), private resident memory now (RssAnon) and peak address
    space (VmPeak), in MiB. ``ru_maxrss`` is not used: it survives ``exec``, so a child
    would report its parent's peak. Resident pages of a memory-mapped file count in VmHWM
    (they are page cache, reclaimable); RssAnon does not hold them."""
    status = dict(ln.split(":", 1) for ln in Path("/proc/self/status").read_text().splitlines()
                  if ":" in ln)

    def mib(key: str) -> int | None:
        return round(int(status[key].split()[0]) / 1024) if key in status else None

    return {"vm_hwm_mb": mib("VmHWM"), "rss_anon_mb": mib("RssAnon"),
            "vm_peak_mb": mib("VmPeak")}


def _child(args: argparse.Namespace) -> dict:
    folder = Path(args.dir)
    from tasklens.data import TaskSet

    targets = {"c": folder / "c.npy", "r": folder / "r.npy"}
    kinds = {"c": "classification", "r": "regression"}
    started = time.perf_counter()
    if args.child == "analyze":
        return _child_analyze(Path(args.data), folder, args.analyze_args.split())
    if args.child == "pq-load":
        ts = TaskSet.from_parquet(str(folder / "d.parquet"), tasks=kinds)
        return {"rows": len(ts), "seconds": time.perf_counter() - started}
    if args.child == "load":
        x = np.load(folder / "x.npy")
        ts = TaskSet.from_arrays(x, {n: np.load(p) for n, p in targets.items()}, kinds)
        return {"rows": len(ts), "seconds": time.perf_counter() - started}
    if args.child in ("stats", "pq-stats"):
        from tasklens.linear import task_correlations

        started = time.perf_counter()
        if args.child == "stats":
            ts = TaskSet.from_npy(folder / "x.npy", targets, kinds)
        else:
            ts = TaskSet.from_parquet(str(folder / "d.parquet"), tasks=kinds, in_memory=False)
        opened = time.perf_counter()
        corr = task_correlations(ts, whiten="zca", warn=False)
        done = time.perf_counter()
        return {"rows": len(ts), "open_validate_s": opened - started,
                "stats_s": done - opened, "rows_per_s": len(ts) / (done - opened),
                "sigma_c_norm": float(np.linalg.norm(corr.sigmas["c"]))}
    # train
    import torch

    from tasklens.nn import hps_for
    from tasklens.train import Trainer

    torch.set_num_threads(1)
    ts = TaskSet.from_npy(folder / "x.npy", targets, kinds)
    if args.rows_limit:
        ts = ts.subset(np.arange(args.rows_limit))
    if args.in_memory:
        ts = ts.to_memory()
    model = hps_for(ts, seed=0, hidden=(64,), code_dim=32, head_hidden=32, head_depth=1)
    trainer = Trainer(model, ts, "ew", lr=1e-3, batch_size=args.batch_size, seed=0,
                      progress=False)
    ready = time.perf_counter()
    result = trainer.fit(args.epochs)
    done = time.perf_counter()
    loss = [float(v) for k, v in result.history[-1].items() if k.endswith("loss")][:3]
    return {"rows": len(ts), "epochs": args.epochs, "train_s": done - ready,
            "rows_per_s": args.epochs * len(ts) / (done - ready), "last_losses": loss}


def _child_analyze(data: Path, folder: Path, extra: list[str]) -> dict:
    """``tasklens analyze DATA --budget fast [extra]`` in this process; seconds per stage."""
    from tasklens.cli.main import app

    out = Path(tempfile.mkdtemp(prefix="analyze-", dir=folder))
    started = time.perf_counter()
    app(["analyze", str(data), "--task", "c:classification", "--task", "r", "--budget",
         "fast", "--executor", "serial", "--out", str(out), *extra], standalone_mode=False)
    wall = time.perf_counter() - started
    res = json.loads((out / "results.json").read_text())
    stages = res["stages"]
    failed = {k: v["reason"] for k, v in stages.items() if v["status"] != "done"}
    return {"rows": res["data"]["n_samples"], "wall_s": wall,
            "stage_s": {k: round(v["seconds"] or 0.0, 1) for k, v in stages.items()},
            "not_done": failed, "storage": stages["summary"]["result"]["storage"],
            "delta_m_ew": stages["baselines"]["result"]["delta_m"]["mean"]
            if stages["baselines"]["status"] == "done" else None}


def write_head(folder: Path, rows: int) -> Path:
    """The first ``rows`` rows as ``head/x.npy`` (+ targets) and ``head.npz``."""
    head = folder / "head"
    head.mkdir(exist_ok=True)
    x = np.array(np.load(folder / "x.npy", mmap_mode="r")[:rows])
    c, r = np.load(folder / "c.npy")[:rows], np.load(folder / "r.npy")[:rows]
    np.save(head / "x.npy", x)
    np.save(head / "c.npy", c)
    np.save(head / "r.npy", r)
    np.savez(folder / "head.npz", inputs=x, c=c, r=r)
    return head


def run_child(mode: str, folder: Path, limit_mb: int | None, *, rlimit: str = "DATA",
              extra: tuple[str, ...] = ()) -> dict:
    """Run ``mode`` in a subprocess under a memory limit; its JSON result or its error."""
    cmd = [sys.executable, __file__, "--child", mode, "--dir", str(folder), *extra]
    if limit_mb:
        cmd += ["--limit-mb", str(limit_mb), "--rlimit", rlimit]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ARROW_DEFAULT_MEMORY_POOL": "system"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"ok": False, "error": tail[:160]}
    return {"ok": True, **json.loads(lines[-1])}


def _baseline_stats(folder: Path, rows: int) -> dict:
    """Rows/s of the same statistics on ``rows`` rows, no limit: numpy on an in-memory
    float64 array (the sufficient statistics ``XᵀX`` and ``YᵀX`` only), ``task_correlations``
    of an in-memory task set (also forms ``X W``), and the streaming pass over the memmap."""
    from tasklens.data import TaskSet
    from tasklens.linear import task_correlations

    kinds = {"c": "classification", "r": "regression"}
    x = np.array(np.load(folder / "x.npy", mmap_mode="r")[:rows])
    ys = {"c": np.load(folder / "c.npy")[:rows], "r": np.load(folder / "r.npy")[:rows]}
    x64 = x.astype(np.float64)
    y64 = np.column_stack([np.eye(CLASSES)[ys["c"]], ys["r"]])
    started = time.perf_counter()
    _ = x64.T @ x64, y64.T @ x64
    raw_s = time.perf_counter() - started
    mem = TaskSet.from_arrays(x, ys, kinds)
    started = time.perf_counter()
    task_correlations(mem, whiten="zca", warn=False)
    mem_s = time.perf_counter() - started
    lazy = TaskSet.from_npy(folder / "x.npy", {"c": folder / "c.npy", "r": folder / "r.npy"},
                            kinds).subset(np.arange(rows))
    started = time.perf_counter()
    task_correlations(lazy, whiten="zca", warn=False)
    lazy_s = time.perf_counter() - started
    return {"rows": rows, "numpy_rows_per_s": rows / raw_s,
            "in_memory_rows_per_s": rows / mem_s, "streaming_rows_per_s": rows / lazy_s}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_179_648)
    p.add_argument("--features", type=int, default=256)
    p.add_argument("--limit-mb", type=int, default=600)
    p.add_argument("--as-limit-mb", type=int, default=1100,
                   help="RLIMIT_AS of the Parquet runs (the libraries take ~700 MB)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--baseline-rows", type=int, default=131_072)
    p.add_argument("--parquet", action="store_true")
    p.add_argument("--analyze", action="store_true",
                   help="add `tasklens analyze --budget fast` on the file (and its baseline)")
    p.add_argument("--only-analyze", action="store_true",
                   help="only the in-memory load (the control) and the analyze steps")
    p.add_argument("--analyze-args", default="",
                   help="more options of the analyze step, e.g. --analyze-args='--seeds 1'")
    p.add_argument("--data", default=None, help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="a small file, to check the script")
    p.add_argument("--dir", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--rlimit", default="DATA", help=argparse.SUPPRESS)
    p.add_argument("--rows-limit", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--in-memory", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        if args.child.startswith("pq"):
            import pyarrow as pa  # one thread, no jemalloc arenas: less address space

            pa.set_cpu_count(1)
            pa.set_io_thread_count(1)
        if "--limit-mb" in (argv or sys.argv):
            limit = args.limit_mb * 2**20
            which = resource.RLIMIT_DATA if args.rlimit == "DATA" else resource.RLIMIT_AS
            resource.setrlimit(which, (limit, limit))
        result = _child(args)
        result.update(_peaks_mb())
        print(json.dumps(result))
        return
    if args.quick:
        args.rows, args.features, args.baseline_rows = 65_536, 64, 16_384
        args.limit_mb = args.as_limit_mb = 0
    folder = Path(tempfile.mkdtemp(prefix="tasklens-bigdata-", dir=args.dir))
    try:
        report(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _Rows(list):
    """Prints each result as it is appended (a long run shows its progress)."""

    def append(self, item: tuple[str, dict]) -> None:
        label, res = item
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in res.items()
                 if k != "ok"}
        print(f"- {label}: " + (json.dumps(shown) if res["ok"] else
                                f"FAILED: {res['error']}"), flush=True)
        super().append(item)


def report(args: argparse.Namespace, folder: Path) -> None:
    started = time.perf_counter()
    make_files(folder, args.rows, args.features)
    size_mb = (folder / "x.npy").stat().st_size / 2**20
    print(f"file: {args.rows} x {args.features} float32 = {size_mb:.0f} MiB "
          f"(written in {time.perf_counter() - started:.1f} s); limit RLIMIT_DATA "
          f"{args.limit_mb or 'none'} MiB", flush=True)
    limit = args.limit_mb or None
    rows = _Rows()
    rows.append(("in-memory load (np.load + from_arrays)", run_child("load", folder, limit)))
    if args.analyze or args.only_analyze:
        report_analyze(args, folder, rows, limit)
    if args.only_analyze:
        return
    rows.append(("streaming stats, npy (from_npy + ZCA task_correlations)",
                 run_child("stats", folder, limit)))
    rows.append((f"train {args.epochs} epochs, npy memmap, batch {args.batch_size}",
                 run_child("train", folder, limit, extra=(
                     "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)))))
    base_extra = ("--epochs", "1", "--batch-size", str(args.batch_size),
                  "--rows-limit", str(args.baseline_rows))
    rows.append((f"baseline: train 1 epoch on {args.baseline_rows} rows, npy memmap",
                 run_child("train", folder, None, extra=base_extra)))
    rows.append((f"baseline: train 1 epoch on {args.baseline_rows} rows, in memory",
                 run_child("train", folder, None, extra=(*base_extra, "--in-memory"))))
    if args.parquet:
        write_parquet(folder)
        pq_mb = (folder / "d.parquet").stat().st_size / 2**20
        as_limit = args.as_limit_mb or None
        rows.append((f"in-memory load, Parquet ({pq_mb:.0f} MiB, the file twice), RLIMIT_AS "
                     f"{as_limit or 'none'} MiB",
                     run_child("pq-load", folder, as_limit, rlimit="AS")))
        rows.append((f"streaming stats, Parquet ({pq_mb:.0f} MiB), RLIMIT_AS "
                     f"{as_limit or 'none'} MiB",
                     run_child("pq-stats", folder, as_limit, rlimit="AS")))
    base = _baseline_stats(folder, args.baseline_rows)
    print(f"- statistics (ZCA) on {base['rows']} rows, no limit: numpy XᵀX + YᵀX in memory "
          f"{base['numpy_rows_per_s']:,.0f} rows/s; task_correlations in memory "
          f"{base['in_memory_rows_per_s']:,.0f} rows/s; streaming over the memmap "
          f"{base['streaming_rows_per_s']:,.0f} rows/s (× numpy "
          f"{base['streaming_rows_per_s'] / base['numpy_rows_per_s']:.2f}, × in-memory "
          f"{base['streaming_rows_per_s'] / base['in_memory_rows_per_s']:.2f})", flush=True)


def report_analyze(args: argparse.Namespace, folder: Path, rows: list, limit: int | None
                   ) -> None:
    """The analyze step on the whole file under the cap, and its baselines on the head."""
    more = (f"--analyze-args={args.analyze_args}",)
    rows.append((f"analyze --budget fast {args.analyze_args}, npy, whole file",
                 run_child("analyze", folder, limit,
                           extra=("--data", str(folder / "x.npy"), *more))))
    head = write_head(folder, args.baseline_rows)
    rows.append((f"baseline: analyze --budget fast, first {args.baseline_rows} rows, .npz in "
                 "memory", run_child("analyze", folder, None,
                                     extra=("--data", str(folder / "head.npz"), *more))))
    rows.append((f"baseline: analyze --budget fast, first {args.baseline_rows} rows, .npy "
                 "on disk", run_child("analyze", folder, None,
                                      extra=("--data", str(head / "x.npy"), *more))))


if __name__ == "__main__":
    main()
