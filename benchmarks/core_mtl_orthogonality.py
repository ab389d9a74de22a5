"""Benchmark: CORE-MTL gradient orthogonality over training (Wu et al. 2026, arXiv:2606.02221,
§4.4.2 Fig. 4-5, Prop. 2.5) on the shortcut protocol's colored digits.

Library: :func:`tasklens.studies.core_mtl_gradients.gradient_orthogonality`. Prints the
table and writes ``orthogonality.json``, ``orthogonality.md``, ``orthogonality.png`` and
``task_gradients_<variant>.png`` to ``--out`` (not resumable; about two minutes).

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/core_mtl_orthogonality.py
--out /tmp/core_orthogonality`` (``--quick``: one seed, one epoch, 200 images);
``--dataset shaded_shapes``: the hard-grounding model of the grounding study on 16×16 shaded shapes.
"""

from __future__ import annotations

import os

from tasklens.studies.core_mtl_gradients import gradient_orthogonality, save_orthogonality

try:  # run as a script (benchmarks/ on sys.path) or imported as benchmarks.<name>
    from _common import one_thread, print_study, study_parser
except ModuleNotFoundError:
    from benchmarks._common import one_thread, print_study, study_parser


def main() -> None:
    parser = study_parser(__doc__, "tasklens-output/core-mtl-orthogonality", every=5)
    parser.add_argument("--n", type=int, default=None,
                        help="digits (default all) or shaded-shape training images (1,024)")
    parser.add_argument("--dataset", default="colored_digits",
                        choices=("colored_digits", "shaded_shapes"))
    args = parser.parse_args()
    started = one_thread()
    if args.quick:
        args.seeds, args.epochs, args.n = 1, 1, 200
    load = os.getloadavg()[0]
    result = gradient_orthogonality(seeds=range(args.seeds), epochs=args.epochs, n=args.n,
                                    every=args.every, dataset=args.dataset)
    result = save_orthogonality(result, args.out)
    print_study("orthogonality", result, started)
    print(f"load average (1 min) at start {load:.2f}, at end {os.getloadavg()[0]:.2f}; "
          f"layer size {result.layer_size}, random-direction E|cos| "
          f"{result.random_reference:.4f}")


if __name__ == "__main__":
    main()
