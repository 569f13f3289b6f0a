"""Brain module training throughput (samples/s) at the tiny and default configs' sizes.

Hyperparameters come from each config's ``things_meg.brain_module``; inputs are
random epochs of the preprocessed shape (trials, 271 sensors, 181 samples:
−0.5..1 s at 120 Hz) with the real CTF sensor positions, and random targets.
Two measurements per config and thread count:

* ``step``: forward + CLIP/MSE loss + backward + AdamW step of
  :class:`~brainlatent.models.brain_module.BrainModule` on a batch already in
  memory (the network's cost alone);
* ``fit``: :meth:`BrainModuleDecoder.fit` for one epoch without validation
  (adds the input checks and the per-batch copies from the array);
* ``step, layers in turn``: the reference for the composed front end (issue 20): the same
  steps with spatial attention, 1×1 conv, subject layer and 1×1 input conv applied to the
  epochs one after the other, as before :meth:`BrainModule.front` composed them;
* ``step, bfloat16``: the same steps under bfloat16 autocast (``precision: bfloat16``, what
  ``auto`` picks on hardware with bfloat16 products), against ``step`` in float32.

``fit`` uses the config's ``precision`` (the schema's ``auto`` where a config has none).

On CPU with 1 and 2 torch threads; on CUDA too when torch sees a GPU.

    python benchmarks/bench_brain_module.py [--configs tiny default real --samples 512]
"""

from __future__ import annotations

import argparse
import time

import benchinfo
import numpy as np
import yaml

from brainlatent.config import load_schema

CONFIGS = {
    "tiny": "config/tests/tiny.yaml",
    "default": "config/config.yaml",
    "real": "config/real.yaml",
}
ARCHITECTURE = ("n_spatial", "hidden", "n_blocks", "n_freqs", "dropout_radius", "temperature")


def hyperparameters(name: str) -> dict:
    path = benchinfo.REPO / CONFIGS[name]
    params = dict(yaml.safe_load(path.read_text())["things_meg"]["brain_module"])
    if name == "real":  # real.yaml is read on top of config.yaml
        default = yaml.safe_load((benchinfo.REPO / CONFIGS["default"]).read_text())
        params = {**default["things_meg"]["brain_module"], **params}
    if "precision" not in params:  # the schema's default, as the workflow fills it
        schema = load_schema(benchinfo.REPO / "workflow/schemas/config.schema.yaml")
        module = schema["properties"]["things_meg"]["properties"]["brain_module"]
        params["precision"] = module["properties"]["precision"]["default"]
    return params


def _in_turn(model):
    """Make ``model`` apply its linear front end layer by layer (the reference)."""
    import torch

    def front(subjects):
        raise AssertionError("the reference does not compose")

    def encode(x, subjects):
        h = model.spatial_conv(model.attention(x))
        h = model.input_conv(model.subject_layer(h, subjects))
        h = torch.nn.functional.glu(model.glu_conv(model.blocks(h)), dim=1)
        return model.temporal(h).squeeze(-1)

    model.front, model.encode = front, encode
    return model


def step_throughput(
    params, positions, X, Y, subjects, device, min_seconds, in_turn=False, bfloat16=False
):
    """Samples/s of training steps on one resident batch (after 2 warm-up steps)."""
    import torch
    import torch.nn.functional as F

    from brainlatent.models.brain_module import BrainModule, clip_loss

    batch = params["batch_size"]
    torch.manual_seed(0)
    model = BrainModule(
        positions,
        n_times=X.shape[2],
        n_outputs=Y.shape[1],
        n_subjects=int(subjects.max()) + 1,
        **{k: params[k] for k in ARCHITECTURE},
    ).to(device)
    if in_turn:
        _in_turn(model)
    model.train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=params["lr"],
        weight_decay=params["weight_decay"],
    )
    x = torch.from_numpy(X[:batch]).to(device)
    y = torch.from_numpy(Y[:batch]).to(device)
    s = torch.from_numpy(subjects[:batch]).to(device)
    groups = torch.arange(batch, device=device)
    w = params["clip_weight"]

    def step():
        with torch.autocast(torch.device(device).type, torch.bfloat16, enabled=bfloat16):
            clip_out, mse_out = model(x, s)
        clip_out, mse_out = clip_out.float(), mse_out.float()  # as BrainModuleDecoder does
        loss = w * clip_loss(clip_out, y, groups, model.logit_scale)
        loss = loss + (1 - w) * F.mse_loss(mse_out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(2):
        step()
    sync()
    steps, start = 0, time.perf_counter()
    while steps < 3 or time.perf_counter() - start < min_seconds:
        loss = step()
        steps += 1
    sync()
    elapsed = time.perf_counter() - start
    assert np.isfinite(float(loss))
    return {"samples_per_s": steps * batch / elapsed, "steps": steps, "seconds": elapsed}


def fit_throughput(params, positions, X, Y, subjects, device):
    """Samples/s of BrainModuleDecoder.fit, one epoch over every sample, no validation."""
    from brainlatent.models.brain_module import BrainModuleDecoder

    settings = {**params, "max_epochs": 1, "val_fraction": 0.0, "device": device}
    start = time.perf_counter()
    decoder = BrainModuleDecoder(**settings, progress=False).fit(X, Y, subjects, positions)
    elapsed = time.perf_counter() - start
    assert np.isfinite(decoder.history_["train_loss"]).all()
    return {"samples_per_s": len(X) / elapsed, "samples": len(X), "seconds": elapsed}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=["tiny", "default"])
    parser.add_argument("--samples", type=int, default=512, help="trials for the fit epoch")
    parser.add_argument("--dims", type=int, default=64, help="target dims (fft features: 64)")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum time of step runs")
    parser.add_argument("--rounds", type=int, default=3, help="repeats, thread counts interleaved")
    parser.add_argument("--no-fit", action="store_true", help="steps only")
    args = parser.parse_args()

    import torch

    from brainlatent.datasets import things_meg
    from brainlatent.device import native_bfloat16

    reference = benchinfo.REPO / "resources/bids/things-meg"
    names = [
        n for n in things_meg.sensor_names(reference) if n not in things_meg.KNOWN_BAD_CHANNELS
    ]
    positions = things_meg.sensor_positions(names)
    gen = np.random.default_rng(0)
    X = gen.standard_normal((args.samples, len(names), 181), dtype=np.float32)
    Y = gen.standard_normal((args.samples, args.dims), dtype=np.float32)
    subjects = np.arange(args.samples) % 2  # the default config's two subjects

    devices = [("cpu", t) for t in args.threads]
    if torch.cuda.is_available():
        devices.append(("cuda", 1))
    results, rows = [], []
    for config in args.configs:
        params = hyperparameters(config)
        runs = {key: {"step": [], "fit": [], "in_turn": [], "bfloat16": []} for key in devices}
        for _ in range(args.rounds):  # thread counts interleaved: load changes hit both
            for device, threads in devices:
                torch.set_num_threads(threads)
                run = runs[device, threads]
                run["step"].append(
                    step_throughput(params, positions, X, Y, subjects, device, args.seconds)
                )
                run["in_turn"].append(
                    step_throughput(
                        params, positions, X, Y, subjects, device, args.seconds, in_turn=True
                    )
                )
                if native_bfloat16(torch.device(device)):
                    run["bfloat16"].append(
                        step_throughput(
                            params, positions, X, Y, subjects, device, args.seconds, bfloat16=True
                        )
                    )
                if not args.no_fit:
                    run["fit"].append(fit_throughput(params, positions, X, Y, subjects, device))
        for (device, threads), run in runs.items():
            best = {
                kind: max((r["samples_per_s"] for r in run[kind]), default=None)
                for kind in ("step", "fit", "in_turn", "bfloat16")
            }
            results.append(
                {
                    "config": config,
                    "device": device,
                    "threads": threads,
                    "batch_size": params["batch_size"],
                    "precision": params["precision"],
                    "architecture": {k: params[k] for k in ARCHITECTURE},
                    "best_samples_per_s": best,
                    **run,
                }
            )
            rows.append(
                [
                    config,
                    ", ".join(f"{k}={params[k]}" for k in ("n_spatial", "hidden", "n_blocks")),
                    params["batch_size"],
                    device,
                    threads if device == "cpu" else "",
                    best["step"],
                    " / ".join(f"{r['samples_per_s']:.0f}" for r in run["step"]),
                    best["fit"],
                    " / ".join(f"{r['samples_per_s']:.0f}" for r in run["fit"]),
                    best["in_turn"],
                    f"{best['step'] / best['in_turn']:.2f}",
                    best["bfloat16"] if best["bfloat16"] else "not native",
                    f"{best['bfloat16'] / best['step']:.2f}" if best["bfloat16"] else "",
                ]
            )
    table = benchinfo.markdown_table(
        [
            "config",
            "network",
            "batch",
            "device",
            "threads",
            "step samples/s (best)",
            "each round",
            "fit samples/s (best)",
            "each round",
            "step, layers in turn (reference)",
            "step speed-up",
            "step, bfloat16",
            "bfloat16 speed-up",
        ],
        rows,
    )
    notes = [
        f"best of {args.rounds} rounds; the thread counts alternate within each round",
        f"input ({args.samples}, {len(names)}, 181) float32, targets {args.dims}-D, 2 subjects",
        "step: forward+backward+AdamW on a resident batch, at least "
        f"{args.seconds:g} s after 2 warm-up steps; fit: BrainModuleDecoder.fit, 1 epoch "
        f"over {args.samples} trials, no validation (includes model construction), "
        "in the config's precision",
    ]
    if not torch.cuda.is_available():
        notes.append("no CUDA device visible: CPU only")
    benchinfo.report(
        "brain_module",
        "Brain module training throughput",
        {
            "configs": args.configs,
            "samples": args.samples,
            "dims": args.dims,
            "threads": args.threads,
            "rounds": args.rounds,
            "cuda": torch.cuda.is_available(),
        },
        [("", table)],
        {"runs": results},
        ("numpy", "torch"),
        notes,
    )


if __name__ == "__main__":
    main()
