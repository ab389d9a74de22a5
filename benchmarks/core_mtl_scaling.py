"""Benchmark: CORE-MTL's cost and Δm as the number of tasks grows (Wu et al. 2026,
arXiv:2606.02221, §4.5 Table 4), at CPU scale.

Library: :func:`tasklens.studies.core_mtl_scaling.scaling_study` (sprites with K random-MLP
regression tasks, K = 10, 20, 30, 40; EW, PCGrad, STCH, CORE-MTL soft). Prints the table
(seconds per epoch, mean R², Δm on test MSE vs EW with the same K and seed) and writes
``scaling.json``, ``scaling.md`` and ``scaling.png`` to ``--out`` (a rerun resumes).

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/core_mtl_scaling.py
--out /tmp/core_scaling`` (``--quick``: K = 2, 4, one seed, one epoch).
``--timing-repeats 5`` (default) adds the interleaved best-of-5 epoch times of
:func:`interleaved_epoch_times`, which a loaded machine disturbs far less than the per-run
times.
"""

from __future__ import annotations

from tasklens.studies.core_mtl_scaling import (
    interleaved_epoch_times,
    save_scaling,
    scaling_study,
)

try:  # run as a script (benchmarks/ on sys.path) or imported as benchmarks.<name>
    from _common import one_thread, print_study, study_parser
except ModuleNotFoundError:
    from benchmarks._common import one_thread, print_study, study_parser


def main() -> None:
    parser = study_parser(__doc__, "tasklens-output/core-mtl-scaling", epochs=4,
                          n_train=256, n_test=256, size=32)
    parser.add_argument("--timing-repeats", type=int, default=5,
                        help="also time one epoch per method, interleaved, best of N (0: off)")
    args = parser.parse_args()
    started = one_thread()
    counts = (2, 4) if args.quick else (10, 20, 30, 40)
    seeds = range(1 if args.quick else args.seeds)
    epochs = 1 if args.quick else args.epochs
    result = scaling_study(args.out, task_counts=counts, seeds=seeds, epochs=epochs,
                           n_train=args.n_train, n_test=args.n_test, size=args.size)
    if args.timing_repeats:
        import dataclasses

        timing = interleaved_epoch_times(task_counts=counts, repeats=args.timing_repeats,
                                         n_train=args.n_train, size=args.size)
        result = dataclasses.replace(result, timing=timing)
    print_study("scaling", save_scaling(result, args.out), started)


if __name__ == "__main__":
    main()
