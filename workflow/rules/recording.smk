# Your own recording (the CEBRA paper's hippocampus use case): simulate or read an NWB/npz
# recording, decode its behaviour from CEBRA, PCA and raw activity, plot the embeddings.

RECORDING = config["recording"]  # the settings, passed to the scripts as they are
RECORDING_ROOT = PLAN.recording.root


if RECORDING["source"] == "simulate":

    rule simulate_place_cells:
        input:
            script=script("simulate_place_cells"),
        output:
            nwb=PLAN.recording.file,
            truth=f"{RECORDING_ROOT}/simulated/truth.npz",
        log:
            "logs/simulate_place_cells/recording.log",
        benchmark:
            "logs/benchmarks/simulate_place_cells/recording.tsv"
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
        recording=PLAN.recording.file,
    output:
        metrics=f"{RECORDING_ROOT}/metrics/decoding.parquet",
        consistency=f"{RECORDING_ROOT}/metrics/consistency.parquet",
        embeddings=list(PLAN.recording.embeddings.values()),
    log:
        "logs/decode_recording/recording.log",
    benchmark:
        "logs/benchmarks/decode_recording/recording.tsv"
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    resources:
        device=DEVICE,
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
        smoothing=RECORDING["input_smoothing_s"],
        pca_dim=RECORDING["pca_dim"],
        neighbors=RECORDING["knn"]["neighbors"],
        knn_metric=RECORDING["knn"]["metric"],
        cebra=as_json(RECORDING["cebra"]),
        embeddings=lambda wildcards, output: str(Path(output.embeddings[0]).parent),
    shell:
        "python {input.script} --recording {input.recording:q} --reader {params.reader:q}"
        " --methods {params.methods} --seeds {params.seeds}"
        " --test-fraction {params.test_fraction} --input-smoothing {params.smoothing}"
        " --pca-dim {params.pca_dim}"
        " --neighbors {params.neighbors} --knn-metric {params.knn_metric}"
        " --cebra {params.cebra:q} --threads {threads} --device {resources.device} --metrics {output.metrics:q}"
        " --consistency {output.consistency:q} --embeddings {params.embeddings:q}"
        " > {log} 2>&1"
