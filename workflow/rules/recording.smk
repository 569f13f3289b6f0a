# Your own recording (the CEBRA paper's hippocampus use case): simulate or read an NWB/npz
# recording, decode its behaviour from CEBRA, PCA and raw activity, plot the embeddings.

RECORDING = config["recording"]
RECORDING_ROOT = "results/recording"
RECORDING_SIMULATED = f"{RECORDING_ROOT}/simulated/recording.nwb"
# Methods fitted once per seed; the others are deterministic (one embedding, no seed).
RECORDING_SEEDED = ("cebra_behavior", "cebra_time")


if RECORDING["source"] == "file" and RECORDING["path"] is None:
    raise ConfigError(
        "recording.source is 'file' but recording.path is null: point it at an .nwb file "
        "or an .npz with arrays neural (time × neurons) and behavior (time × d)"
    )
RECORDING_FILE = (
    RECORDING_SIMULATED
    if RECORDING["source"] == "simulate"
    else resolve(RECORDING["path"])
)
# Embeddings the decoding step saves (raw activity is its input: not saved again); the
# figure plots the CEBRA ones of the first seed, or PCA (the schema requires one of them).
RECORDING_EMBEDDINGS = {
    (method, seed): f"{RECORDING_ROOT}/embeddings/{method}_seed{seed}.npz"
    for method in RECORDING["methods"]
    if method in RECORDING_SEEDED
    for seed in RECORDING["seeds"]
} | {
    (method, None): f"{RECORDING_ROOT}/embeddings/{method}.npz"
    for method in RECORDING["methods"]
    if method not in RECORDING_SEEDED and method != "raw"
}
RECORDING_FIGURE_EMBEDDINGS = [
    path
    for (method, seed), path in RECORDING_EMBEDDINGS.items()
    if seed == RECORDING["seeds"][0]
] or list(RECORDING_EMBEDDINGS.values())


if RECORDING["source"] == "simulate":

    rule simulate_place_cells:
        input:
            script=script("simulate_place_cells"),
        output:
            nwb=RECORDING_SIMULATED,
            truth=f"{RECORDING_ROOT}/simulated/truth.npz",
        log:
            "logs/simulate_place_cells/recording.log",
        benchmark:
            "benchmarks/simulate_place_cells/recording.tsv"
        conda:
            "../../envs/calcium.yaml"
        params:
            simulation=as_json(RECORDING["simulate"]),
        shell:
            "python {input.script} --nwb {output.nwb:q} --truth {output.truth:q}"
            " --simulation {params.simulation:q} > {log} 2>&1"


rule decode_recording:
    input:
        script=script("decode_recording"),
        recording=RECORDING_FILE,
    output:
        metrics=f"{RECORDING_ROOT}/metrics/decoding.parquet",
        consistency=f"{RECORDING_ROOT}/metrics/consistency.parquet",
        embeddings=list(RECORDING_EMBEDDINGS.values()),
    log:
        "logs/decode_recording/recording.log",
    benchmark:
        "benchmarks/decode_recording/recording.tsv"
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    params:
        reader=as_json(
            {
                key: RECORDING[key]
                for key in ("neural", "behavior", "behavior_names", "discrete", "rate")
            }
        ),
        methods=RECORDING["methods"],
        seeds=RECORDING["seeds"],
        test_fraction=RECORDING["test_fraction"],
        pca_dim=RECORDING["pca_dim"],
        neighbors=RECORDING["knn"]["neighbors"],
        knn_metric=RECORDING["knn"]["metric"],
        cebra=as_json(RECORDING["cebra"]),
        embeddings=lambda wildcards, output: str(Path(output.embeddings[0]).parent),
    shell:
        "python {input.script} --recording {input.recording:q} --reader {params.reader:q}"
        " --methods {params.methods} --seeds {params.seeds}"
        " --test-fraction {params.test_fraction} --pca-dim {params.pca_dim}"
        " --neighbors {params.neighbors} --knn-metric {params.knn_metric}"
        " --cebra {params.cebra:q} --threads {threads} --metrics {output.metrics:q}"
        " --consistency {output.consistency:q} --embeddings {params.embeddings:q}"
        " > {log} 2>&1"


rule plot_recording_embedding:
    input:
        script=script("plot_recording_embedding"),
        metrics=f"{RECORDING_ROOT}/metrics/decoding.parquet",
        embeddings=RECORDING_FIGURE_EMBEDDINGS,
    output:
        pdf="results/figures/recording_embedding.pdf",
        png=report(
            "results/figures/recording_embedding.png",
            caption="../report/recording_embedding.rst",
            category="Your recording (CEBRA)",
        ),
    log:
        "logs/plot_recording_embedding/recording_embedding.log",
    benchmark:
        "benchmarks/plot_recording_embedding/recording_embedding.tsv"
    localrule: True
    conda:
        "../../envs/learn.yaml"
    shell:
        "python {input.script} --metrics {input.metrics:q} --embeddings {input.embeddings:q}"
        " --pdf {output.pdf:q} --png {output.png:q} > {log} 2>&1"
