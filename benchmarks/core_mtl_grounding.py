"""Benchmark: CORE-MTL hard vs soft grounding on shaded shapes, in distribution and under a
photometric shift (Wu et al. 2026, arXiv:2606.02221, eqs. 13–15, Table 6, Table 3).

Library: :func:`tasklens.studies.core_mtl_grounding.grounding_study`. Prints the tables and
writes ``grounding.json``, ``grounding.md`` and ``grounding.png`` to ``--out`` (a rerun
resumes).

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/core_mtl_grounding.py
--out /tmp/core_grounding`` (``--quick``: one seed, one epoch, 128 images).
"""

from __future__ import annotations

from tasklens.studies.core_mtl_grounding import grounding_study, save_grounding

try:  # run as a script (benchmarks/ on sys.path) or imported as benchmarks.<name>
    from _common import one_thread, print_study, study_parser
except ModuleNotFoundError:
    from benchmarks._common import one_thread, print_study, study_parser


def main() -> None:
    args = study_parser(__doc__, "tasklens-output/core-mtl-grounding", n_train=1024,
                        n_test=512, size=16).parse_args()
    started = one_thread()
    if args.quick:
        args.seeds, args.epochs, args.n_train, args.n_test = 1, 1, 128, 64
    result = grounding_study(args.out, seeds=range(args.seeds), epochs=args.epochs,
                             n_train=args.n_train, n_test=args.n_test, size=args.size)
    print_study("grounding", save_grounding(result, args.out), started)


if __name__ == "__main__":
    main()
