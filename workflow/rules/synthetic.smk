# The CEBRA paper's synthetic benchmark: latent recovery on the pi-VAE generative process.

SYNTHETIC = config["synthetic"]  # the settings, passed to the script as they are


rule run_synthetic_benchmark:
    input:
        script=script("run_synthetic_benchmark"),
        package=package("run_synthetic_benchmark"),
    output:
        metrics="results/synthetic/metrics/latents.parquet",
    log:
        "logs/run_synthetic_benchmark/latents.log",
    benchmark:
        "logs/benchmarks/run_synthetic_benchmark/latents.tsv"
    # A long single job (~2 min of CPU): started first, it runs beside everything else.
    priority: 100
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    resources:
        device=DEVICE,
    params:
        methods=SYNTHETIC["methods"],
        seeds=SYNTHETIC["seeds"],
        n_samples=SYNTHETIC["n_samples"],
        n_neurons=SYNTHETIC["n_neurons"],
        data_seed=SYNTHETIC["data_seed"],
        tsne=SYNTHETIC["tsne_max_samples"],
        tsne_iter=SYNTHETIC["tsne_max_iter"],
        cebra=as_json(SYNTHETIC["cebra"]),
    shell:
        "python {input.script} --methods {params.methods} --seeds {params.seeds}"
        " --n-samples {params.n_samples} --n-neurons {params.n_neurons}"
        " --data-seed {params.data_seed} --tsne-max-samples {params.tsne}"
        " --tsne-max-iter {params.tsne_iter}"
        " --cebra {params.cebra:q} --threads {threads} --device {resources.device} --metrics {output.metrics:q}"
        " > {log} 2>&1"
