"""The pi-VAE synthetic benchmark: latent recovery R² of CEBRA, PCA, UMAP and t-SNE."""

import argparse
import json
import os
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

from brainlatent.device import add_device_argument, refuse_device_key
from brainlatent.io import write_table
from brainlatent.synthetic.benchmark import run_benchmark


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--methods", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--n-samples", type=int, default=15000)
    parser.add_argument("--n-neurons", type=int, default=100)
    parser.add_argument("--tsne-max-samples", type=int, default=0, help="0: no cap")
    parser.add_argument("--tsne-max-iter", type=int, default=1000, help="t-SNE iterations")
    parser.add_argument("--cebra", type=json.loads, default={}, help="JSON CEBRA parameters")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    add_device_argument(parser)
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args(argv)
    refuse_device_key(parser, args.cebra, "--cebra")
    torch.set_num_threads(args.threads)
    # BLAS and OpenMP (t-SNE's Barnes-Hut gradient) on the job's threads, however it is
    # started (Snakemake sets OMP_NUM_THREADS, a shell may not): t-SNE's result depends on
    # the thread count, and surplus threads on shared cores only spin. numba too (read when
    # UMAP first imports it): each UMAP fit ends by restoring numba's thread count, by default
    # every core, and numba's OpenMP layer shares t-SNE's libgomp, so every t-SNE after the
    # first UMAP ran on all cores (3x the CPU time of one thread on 2 shared cores).
    os.environ["NUMBA_NUM_THREADS"] = str(args.threads)
    with threadpool_limits(args.threads):
        table = run_benchmark(
            args.methods,
            args.seeds,
            n_samples=args.n_samples,
            n_neurons=args.n_neurons,
            cebra_params={**args.cebra, "device": args.device},
            method_params={"tsne": {"max_iter": args.tsne_max_iter}},
            max_samples={"tsne": args.tsne_max_samples} if args.tsne_max_samples else None,
            data_seed=args.data_seed,
            timings=True,
        )
    print(table.groupby(["metric", "method"])["value"].median().to_string())
    write_table(args.metrics, table)


if __name__ == "__main__":
    main()
