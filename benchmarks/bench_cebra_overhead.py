"""CEBRA-Behavior through the workflow's code path vs ``cebra.CEBRA(...).fit`` directly.

The calcium rules (``decode_movie_frames``, ``embed_calcium``) fit CEBRA-Behavior
through :func:`brainlatent.decoding.frames.cebra_embedding`, which builds the
per-sample labels with :func:`~brainlatent.models.cebra_models.frame_labels` and
fits with :func:`~brainlatent.models.cebra_models.fit_embedding` (input checks,
seeded samplers and weights, forked RNG). That is timed here against a plain
``cebra.CEBRA(...).fit(X, y)`` with the same hyperparameters (checked equal with
``get_params``) on the same arrays, alternating the two, one torch thread (the
rules' ``threads: 1``). The embeddings' ``transform`` is left out of both. Both sides
search positive pairs with the workflow's exact label search
(:func:`~brainlatent.models.cebra_search.fast_label_search`, the same indices as
cebra's brute-force one): without it on the direct side, the search's own speed-up
(~1.4× on these repeated frames) would hide that much overhead.

    python benchmarks/bench_cebra_overhead.py [--samples 9000 --neurons 300 --iterations 300]
"""

from __future__ import annotations

import argparse
import time

import benchinfo
import numpy as np
import yaml

TARGET = 0.05  # workflow overhead at most 5 %


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=9000, help="10 repeats of 900 frames")
    parser.add_argument("--neurons", type=int, default=300)
    parser.add_argument("--label-dims", type=int, default=8)
    parser.add_argument("--iterations", type=int, help="default: the config's max_iterations")
    parser.add_argument("--batch-size", type=int, help="default: the config's batch_size")
    parser.add_argument("--repeats", type=int, default=2, help="fits of each, alternating")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--config", default=str(benchinfo.REPO / "config/config.yaml"))
    args = parser.parse_args()

    import cebra
    import torch

    from brainlatent.models import cebra_models
    from brainlatent.models.cebra_search import fast_label_search

    torch.set_num_threads(args.threads)
    params = dict(yaml.safe_load(open(args.config))["allen_calcium"]["cebra"])
    params["device"] = "cpu"
    if args.iterations:
        params["max_iterations"] = args.iterations
    if args.batch_size:
        params["batch_size"] = args.batch_size

    gen = np.random.default_rng(0)
    n_frames = 900
    frame = np.arange(args.samples) % n_frames
    features = gen.standard_normal((n_frames, args.label_dims)).astype(np.float32)
    # Neurons tuned to the labels, plus noise: a learnable problem of the real shape.
    tuning = gen.standard_normal((args.label_dims, args.neurons)).astype(np.float32)
    X = np.maximum(features[frame] @ tuning + gen.standard_normal((args.samples, args.neurons)), 0)
    X = X.astype(np.float32)
    y = features[frame]

    def direct_model(**overrides):
        p = {**params, **overrides}
        return cebra.CEBRA(
            model_architecture=p["model_architecture"],
            device="cpu",
            distance="cosine",
            temperature=p["temperature"],
            time_offsets=p["time_offsets"],
            max_iterations=p["max_iterations"],
            batch_size=p["batch_size"],
            learning_rate=p["learning_rate"],
            output_dimension=p["output_dimension"],
            verbose=False,
            conditional="time_delta",
            hybrid=False,
        )

    workflow_params = cebra_models.make_cebra("behavior", **params).get_params()
    if direct_model().get_params() != workflow_params:
        raise SystemExit("the direct cebra.CEBRA differs from make_cebra's: fix direct_model")

    def workflow(seed: int, **overrides):
        # What frames.cebra_embedding's embed() does before it transforms.
        labels = cebra_models.frame_labels(features, frame)
        return cebra_models.fit_embedding(
            "behavior", X, labels, random_state=seed, **{**params, **overrides}
        )

    def direct(seed: int, **overrides):
        with fast_label_search():  # what fit_model does: the wrapper alone is compared
            return direct_model(**overrides).fit(X, y)

    for fit in (direct, workflow):  # warm-up: torch's lazy initialisation, page faults
        fit(0, max_iterations=5)

    times = {"workflow": [], "direct": []}
    order = []
    for repeat in range(args.repeats):
        pair = ("workflow", "direct") if repeat % 2 == 0 else ("direct", "workflow")
        for name in pair:
            start = time.perf_counter()
            model = (workflow if name == "workflow" else direct)(repeat)
            times[name].append(time.perf_counter() - start)
            order.append(name)
            assert np.isfinite(model.transform(X[:100])).all()

    best = {name: min(t) for name, t in times.items()}
    ratio = best["workflow"] / best["direct"]
    pair_ratios = [w / d for w, d in zip(times["workflow"], times["direct"], strict=True)]
    results = {
        "seconds": times,
        "order": order,
        "best_seconds": best,
        "ratio_best": ratio,
        "ratio_per_repeat": pair_ratios,
        "overhead_percent": 100 * (ratio - 1),
        "target_overhead_percent": 100 * TARGET,
        "within_target": ratio <= 1 + TARGET,
        "iterations_per_second_direct": params["max_iterations"] / best["direct"],
        "cebra_params": dict(params),
    }
    rows = [
        [
            name,
            *[f"{t:.2f}" for t in times[name]],
            best[name],
            params["max_iterations"] / best[name],
        ]
        for name in ("workflow", "direct")
    ]
    table = benchinfo.markdown_table(
        ["path", *[f"fit {i + 1} s" for i in range(args.repeats)], "best s", "iterations/s"],
        rows,
    )
    summary = benchinfo.markdown_table(
        ["workflow / direct (best)", "per repeat", "overhead", "≤ 5 %"],
        [
            [
                f"{ratio:.3f}",
                ", ".join(f"{r:.3f}" for r in pair_ratios),
                f"{100 * (ratio - 1):+.1f} %",
                "yes" if ratio <= 1 + TARGET else "**no**",
            ]
        ],
    )
    benchinfo.report(
        "cebra_overhead",
        "CEBRA-Behavior: workflow code path vs cebra.CEBRA().fit",
        {
            "samples": args.samples,
            "neurons": args.neurons,
            "label_dims": args.label_dims,
            "iterations": params["max_iterations"],
            "batch_size": params["batch_size"],
            "model": params["model_architecture"],
            "torch_threads": args.threads,
            "repeats": args.repeats,
        },
        [("", table), ("", summary)],
        results,
        ("numpy", "torch", "cebra"),
        [
            f"order of the fits: {', '.join(order)} (after one 5-iteration warm-up fit of each)",
            "workflow = frame_labels + cebra_models.fit_embedding (what "
            "decoding.frames.cebra_embedding runs before transform); direct = "
            "cebra.CEBRA(**same params).fit(X, labels), both with the workflow's exact "
            "label search (cebra_search.fast_label_search)",
        ],
    )


if __name__ == "__main__":
    main()
