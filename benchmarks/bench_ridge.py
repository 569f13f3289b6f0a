"""Ridge with per-target penalties: scikit-learn's RidgeCV vs himalaya's KernelRidgeCV.

Same data, same penalties (scikit-learn: efficient leave-one-out; himalaya:
5-fold CV, its default), the decoding problem's shape (trials × flattened
channels·times → embedding dims). Each library runs in its own subprocess so
that peak memory (ru_maxrss) is its own; time is the best of ``--repeats``.
Prints one table with ratios against scikit-learn, the library the workflow uses.

    python benchmarks/bench_ridge.py [--trials 1100 --channels 272 --times 181 --dims 64]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def problem(trials, channels, times, dims, seed=0):
    gen = np.random.default_rng(seed)
    X = gen.standard_normal((trials, channels * times), dtype=np.float32)
    W = gen.standard_normal((channels * times, dims), dtype=np.float32) / np.sqrt(channels * times)
    Y = X @ W + gen.standard_normal((trials, dims), dtype=np.float32)
    return X, Y


def run(library, args):
    X, Y = problem(args.trials, args.channels, args.times, args.dims)
    alphas = np.logspace(-1, 7, 9)
    best = np.inf
    for _ in range(args.repeats):
        start = time.perf_counter()
        if library == "sklearn":
            from sklearn.linear_model import RidgeCV

            model = RidgeCV(alphas=alphas, alpha_per_target=True).fit(X, Y)
            prediction = model.predict(X[:10])
        else:
            from himalaya.backend import set_backend
            from himalaya.kernel_ridge import KernelRidgeCV

            # Trials ≪ features: himalaya's kernel solver is its fast path here.
            set_backend("numpy")
            model = KernelRidgeCV(alphas=alphas, kernel="linear", cv=5).fit(X, Y)
            prediction = model.predict(X[:10])
        best = min(best, time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": best, "peak_mb": peak_mb, "finite": bool(np.isfinite(prediction).all())}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=1100)
    parser.add_argument("--channels", type=int, default=272)
    parser.add_argument("--times", type=int, default=181)
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--library", choices=["sklearn", "himalaya"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.library:
        print(json.dumps(run(args.library, args)))
        return
    results = {}
    for library in ("sklearn", "himalaya"):
        out = subprocess.run(
            [sys.executable, __file__, "--library", library, *sys.argv[1:]],
            capture_output=True,
            text=True,
            check=True,
        )
        results[library] = json.loads(out.stdout.strip().splitlines()[-1])
    base = results["sklearn"]
    shape = f"{args.trials} trials × {args.channels * args.times} features → {args.dims} dims"
    print(f"ridge, per-target alphas, {shape}")
    print(f"{'library':<10}{'seconds':>10}{'peak MB':>10}{'time ratio':>12}{'memory ratio':>14}")
    for library, r in results.items():
        print(
            f"{library:<10}{r['seconds']:>10.2f}{r['peak_mb']:>10.0f}"
            f"{r['seconds'] / base['seconds']:>12.2f}{r['peak_mb'] / base['peak_mb']:>14.2f}"
        )


if __name__ == "__main__":
    main()
