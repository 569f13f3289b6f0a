# Your own recordings (the CEBRA paper's hippocampus use case): simulate or read NWB/npz
# recordings, choose the embeddings' input smoothing and CEBRA's iterations on each training
# block's validation tail (one job per candidate width), fit each embedding (one job per
# CEBRA seed, and PCA), then decode the held-out block beside the standard decoders.
# Each recording is `PLAN.recordings[name]`; its settings reach the jobs through params
# (the recording_* functions of common.smk).

RECORDINGS = PLAN.recordings
SIMULATED = [
    name for name, r in RECORDINGS.items() if r.settings["source"] == "simulate"
]


wildcard_constraints:
    recording="|".join(RECORDINGS),
    width=r"\d+(\.\d+)?",
    cebra_method="cebra_behavior|cebra_time",
    embedding=r"(cebra_behavior|cebra_time)_seed\d+|pca",


rule simulate_place_cells:
    input:
        script=script("simulate_place_cells"),
        package=package("simulate_place_cells"),
    output:
        nwb=f"{RECORDING_ROOT}/{{recording}}/simulated/recording.nwb",
        truth=f"{RECORDING_ROOT}/{{recording}}/simulated/truth.npz",
    log:
        "logs/simulate_place_cells/{recording}.log",
    benchmark:
        "logs/benchmarks/simulate_place_cells/{recording}.tsv"
    wildcard_constraints:
        recording="|".join(SIMULATED) or "$^",
    conda:
        "../../envs/calcium.yaml"
    params:
        simulation=recording_setting("simulate", to_json=True),
    shell:
        "python {input.script} --nwb {output.nwb:q} --truth {output.truth:q}"
        " --simulation {params.simulation:q} > {log} 2>&1"


rule select_recording_input:
    input:
        script=script("select_recording_input"),
        package=package("select_recording_input"),
        recording=lambda w: recording_of(w).file,
    output:
        curve=f"{RECORDING_ROOT}/{{recording}}/selection/{{cebra_method}}_input_{{width}}.parquet",
    log:
        "logs/select_recording_input/{recording}_{cebra_method}_{width}.log",
    benchmark:
        "logs/benchmarks/select_recording_input/{recording}_{cebra_method}_{width}.tsv"
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    resources:
        device=DEVICE,
    params:
        reader=recording_reader,
        seed=lambda w: recording_of(w).settings["seeds"][0],
        test_fraction=recording_setting("test_fraction"),
        selection=recording_setting("selection", to_json=True),
        neighbors=lambda w: recording_of(w).settings["knn"]["neighbors"],
        knn_metric=lambda w: recording_of(w).settings["knn"]["metric"],
        cebra=recording_setting("cebra", to_json=True),
    shell:
        "python {input.script} --recording {input.recording:q} --reader {params.reader:q}"
        " --name {wildcards.recording} --method {wildcards.cebra_method} --seed {params.seed}"
        " --smoothing {wildcards.width} --test-fraction {params.test_fraction}"
        " --selection {params.selection:q} --neighbors {params.neighbors}"
        " --knn-metric {params.knn_metric} --cebra {params.cebra:q} --threads {threads}"
        " --device {resources.device} --out {output.curve:q} > {log} 2>&1"


rule fit_recording_embedding:
    input:
        script=script("fit_recording_embedding"),
        package=package("fit_recording_embedding"),
        recording=lambda w: recording_of(w).file,
        curves=recording_curves,
    output:
        embedding=f"{RECORDING_ROOT}/{{recording}}/embeddings/{{embedding}}.npz",
    log:
        "logs/fit_recording_embedding/{recording}_{embedding}.log",
    benchmark:
        "logs/benchmarks/fit_recording_embedding/{recording}_{embedding}.tsv"
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    resources:
        device=DEVICE,
    params:
        reader=recording_reader,
        smoothing=recording_setting("input_smoothing_s"),
        test_fraction=recording_setting("test_fraction"),
        pca_dim=recording_setting("pca_dim"),
        cebra=recording_setting("cebra", to_json=True),
        selection=recording_setting("selection", to_json=True),
        neighbors=lambda w: recording_of(w).settings["knn"]["neighbors"],
        knn_metric=lambda w: recording_of(w).settings["knn"]["metric"],
    shell:
        "python {input.script} --recording {input.recording:q} --reader {params.reader:q}"
        " --embedding {wildcards.embedding} --input-smoothing {params.smoothing}"
        " --curves {input.curves:q} --selection {params.selection:q}"
        " --neighbors {params.neighbors} --knn-metric {params.knn_metric}"
        " --test-fraction {params.test_fraction}"
        " --pca-dim {params.pca_dim} --cebra {params.cebra:q} --threads {threads}"
        " --device {resources.device} --out {output.embedding:q} > {log} 2>&1"


rule decode_recording:
    input:
        script=script("decode_recording"),
        package=package("decode_recording"),
        recording=lambda w: recording_of(w).file,
        curves=recording_curves,
        fitted=recording_embeddings,
    output:
        metrics=f"{RECORDING_ROOT}/{{recording}}/metrics/decoding.parquet",
        consistency=f"{RECORDING_ROOT}/{{recording}}/metrics/consistency.parquet",
        selection=f"{RECORDING_ROOT}/{{recording}}/metrics/selection.parquet",
    log:
        "logs/decode_recording/{recording}.log",
    benchmark:
        "logs/benchmarks/decode_recording/{recording}.tsv"
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    params:
        reader=recording_reader,
        methods=recording_setting("methods"),
        seeds=recording_setting("seeds"),
        test_fraction=recording_setting("test_fraction"),
        smoothing=recording_setting("input_smoothing_s"),
        selection=recording_setting("selection", to_json=True),
        pca_dim=recording_setting("pca_dim"),
        neighbors=lambda w: recording_of(w).settings["knn"]["neighbors"],
        knn_metric=lambda w: recording_of(w).settings["knn"]["metric"],
        bayesian=recording_setting("bayesian", to_json=True),
    shell:
        "python {input.script} --recording {input.recording:q} --reader {params.reader:q}"
        " --name {wildcards.recording} --methods {params.methods} --seeds {params.seeds}"
        " --test-fraction {params.test_fraction} --input-smoothing {params.smoothing}"
        " --curves {input.curves:q} --selection-settings {params.selection:q}"
        " --pca-dim {params.pca_dim} --fitted {input.fitted:q}"
        " --neighbors {params.neighbors} --knn-metric {params.knn_metric}"
        " --bayesian {params.bayesian:q} --metrics {output.metrics:q} --consistency {output.consistency:q}"
        " --selection {output.selection:q} > {log} 2>&1"
