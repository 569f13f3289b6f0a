# Allen Brain Observatory calcium imaging: simulate, align to the movie, decode frames.


if CALCIUM["source"] == "simulate":

    rule simulate_allen_calcium:
        input:
            script=script("simulate_allen_calcium"),
        output:
            nwb=f"{CALCIUM_ROOT}/nwb/sub-{{mouse}}.nwb",
            truth=f"{CALCIUM_ROOT}/ground_truth/sub-{{mouse}}_truth.npz",
        log:
            "logs/simulate_allen_calcium/sub-{mouse}.log",
        benchmark:
            "benchmarks/simulate_allen_calcium/sub-{mouse}.tsv"
        priority: 40  # the pseudo-mouse decoding is the longest calcium job
        conda:
            "../../envs/calcium.yaml"
        params:
            area=lambda wildcards: MOUSE_AREAS[wildcards.mouse],
            simulation=as_json(CALCIUM["simulate"]),
            seed=config["seed"],
        shell:
            "python {input.script} --mouse {wildcards.mouse} --area {params.area}"
            " --nwb {output.nwb:q} --truth {output.truth:q} --simulation {params.simulation:q}"
            " --seed {params.seed} > {log} 2>&1"


rule preprocess_calcium:
    input:
        script=script("preprocess_calcium"),
        nwb=f"{CALCIUM_ROOT}/nwb/sub-{{mouse}}.nwb",
    output:
        neural=f"{CALCIUM_ROOT}/sub-{{mouse}}/preprocess/neural.npy",
        labels=f"{CALCIUM_ROOT}/sub-{{mouse}}/preprocess/labels.parquet",
        info=f"{CALCIUM_ROOT}/sub-{{mouse}}/preprocess/info.json",
    log:
        "logs/preprocess_calcium/sub-{mouse}.log",
    benchmark:
        "benchmarks/preprocess_calcium/sub-{mouse}.tsv"
    priority: 40  # the pseudo-mouse decoding is the longest calcium job
    conda:
        "../../envs/calcium.yaml"
    resources:
        mem_mb=mem_from_inputs(3, 1000),  # dF/F, templates
    shell:
        "python {input.script} --nwb {input.nwb:q} --neural {output.neural:q}"
        " --labels {output.labels:q} --info {output.info:q} > {log} 2>&1"


rule embed_movie_frames:
    input:
        script=script("embed_movie_frames"),
        nwb=f"{CALCIUM_ROOT}/nwb/sub-{MICE[0]}.nwb",
    output:
        features=f"{CALCIUM_ROOT}/features/movie_{CALCIUM['frame_features']}.npy",
    log:
        "logs/embed_movie_frames/movie.log",
    benchmark:
        "benchmarks/embed_movie_frames/movie.tsv"
    priority: 40  # the pseudo-mouse decoding is the longest calcium job
    conda:
        "../../envs/calcium.yaml"
    params:
        model=CALCIUM["frame_features"],
    shell:
        "python {input.script} --nwb {input.nwb:q} --model {params.model}"
        " --features {output.features:q} > {log} 2>&1"


rule pool_pseudo_mouse:
    input:
        script=script("pool_pseudo_mouse"),
        neural=expand(f"{CALCIUM_ROOT}/sub-{{mouse}}/preprocess/neural.npy", mouse=MICE),
        labels=expand(
            f"{CALCIUM_ROOT}/sub-{{mouse}}/preprocess/labels.parquet", mouse=MICE
        ),
        infos=expand(f"{CALCIUM_ROOT}/sub-{{mouse}}/preprocess/info.json", mouse=MICE),
    output:
        neural=f"{CALCIUM_ROOT}/sub-{{pseudo}}/preprocess/neural.npy",
        labels=f"{CALCIUM_ROOT}/sub-{{pseudo}}/preprocess/labels.parquet",
        info=f"{CALCIUM_ROOT}/sub-{{pseudo}}/preprocess/info.json",
    log:
        "logs/pool_pseudo_mouse/sub-{pseudo}.log",
    benchmark:
        "benchmarks/pool_pseudo_mouse/sub-{pseudo}.tsv"
    wildcard_constraints:
        pseudo=recordings_pattern(PSEUDO_MICE),
    priority: 40  # the pseudo-mouse decoding is the longest calcium job
    conda:
        "../../envs/calcium.yaml"
    params:
        # pseudo-<area>: that area's sessions (the area is read from each file)
        area=lambda wildcards: (
            f"--area {wildcards.pseudo.removeprefix(f'{PSEUDO}-')}"
            if wildcards.pseudo != PSEUDO
            else ""
        ),
        max_neurons=max(DECODING["neuron_counts"]),
        seed=config["seed"],
    shell:
        "python {input.script} --neural {input.neural:q} --labels {input.labels:q}"
        " --infos {input.infos:q} {params.area} --max-neurons {params.max_neurons}"
        " --seed {params.seed} --out-neural {output.neural:q}"
        " --out-labels {output.labels:q} --out-info {output.info:q} > {log} 2>&1"


rule decode_movie_frames:
    input:
        script=script("decode_movie_frames"),
        neural=f"{CALCIUM_ROOT}/sub-{{mouse}}/preprocess/neural.npy",
        labels=f"{CALCIUM_ROOT}/sub-{{mouse}}/preprocess/labels.parquet",
        features=f"{CALCIUM_ROOT}/features/movie_{CALCIUM['frame_features']}.npy",
    output:
        metrics=f"{CALCIUM_ROOT}/sub-{{mouse}}/evaluate/frame_decoding.parquet",
    log:
        "logs/decode_movie_frames/sub-{mouse}.log",
    benchmark:
        "benchmarks/decode_movie_frames/sub-{mouse}.tsv"
    wildcard_constraints:
        mouse=recordings_pattern(DECODED_MICE),
    priority: 40  # the pseudo-mouse decoding is the longest calcium job
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    resources:
        mem_mb=mem_from_inputs(4, 2000),
    params:
        methods=CALCIUM["decoding"]["methods"],
        counts=lambda wildcards: neuron_counts(wildcards.mouse),
        seeds=CALCIUM["decoding"]["seeds"],
        pca_dim=CALCIUM["decoding"]["pca_dim"],
        window=CALCIUM["decoding"]["window"],
        cebra=as_json(CALCIUM["cebra"]),
    shell:
        "python {input.script} --mouse {wildcards.mouse} --neural {input.neural:q}"
        " --labels {input.labels:q} --features {input.features:q} --methods {params.methods}"
        " --neuron-counts {params.counts} --seeds {params.seeds} --pca-dim {params.pca_dim}"
        " --window {params.window} --cebra {params.cebra:q} --threads {threads}"
        " --metrics {output.metrics:q} > {log} 2>&1"


rule collect_calcium_metrics:
    input:
        script=script("collect_metrics"),
        tables=expand(
            f"{CALCIUM_ROOT}/sub-{{mouse}}/evaluate/frame_decoding.parquet",
            mouse=DECODED_MICE,
        ),
    output:
        metrics=f"{CALCIUM_ROOT}/metrics/frame_decoding.parquet",
    log:
        "logs/collect_calcium_metrics/frame_decoding.log",
    benchmark:
        "benchmarks/collect_calcium_metrics/frame_decoding.tsv"
    localrule: True
    conda:
        "../../envs/learn.yaml"
    shell:
        "python {input.script} --tables {input.tables:q} --metrics {output.metrics:q}"
        " --columns any > {log} 2>&1"


rule plot_calcium_frame_decoding:
    input:
        script=script("plot_calcium_frame_decoding"),
        metrics=f"{CALCIUM_ROOT}/metrics/frame_decoding.parquet",
    output:
        pdf="results/figures/calcium_frame_decoding.pdf",
        png=report(
            "results/figures/calcium_frame_decoding.png",
            caption="../report/calcium_frame_decoding.rst",
            category="Allen calcium (CEBRA)",
        ),
    log:
        "logs/plot_calcium_frame_decoding/calcium_frame_decoding.log",
    benchmark:
        "benchmarks/plot_calcium_frame_decoding/calcium_frame_decoding.tsv"
    localrule: True
    conda:
        "../../envs/learn.yaml"
    shell:
        "python {input.script} --metrics {input.metrics:q} --pdf {output.pdf:q}"
        " --png {output.png:q} > {log} 2>&1"


rule embed_calcium:
    input:
        script=script("embed_calcium"),
        neural=f"{CALCIUM_ROOT}/sub-{{mouse}}/preprocess/neural.npy",
        labels=f"{CALCIUM_ROOT}/sub-{{mouse}}/preprocess/labels.parquet",
        features=f"{CALCIUM_ROOT}/features/movie_{CALCIUM['frame_features']}.npy",
    output:
        embedding=CALCIUM_EMBEDDING,
    log:
        "logs/embed_calcium/sub-{mouse}_{kind}.log",
    benchmark:
        "benchmarks/embed_calcium/sub-{mouse}_{kind}.tsv"
    wildcard_constraints:
        mouse=recordings_pattern(EMBEDDED_MICE),
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    resources:
        mem_mb=mem_from_inputs(4, 2000),
    params:
        cebra=lambda wildcards: as_json(
            {**CALCIUM["cebra"], "output_dimension": EMBEDDING["output_dimension"]}
        ),
        seed=EMBEDDING["seed"],
    shell:
        "python {input.script} --neural {input.neural:q} --labels {input.labels:q}"
        " --features {input.features:q} --kind {wildcards.kind} --cebra {params.cebra:q}"
        " --seed {params.seed} --threads {threads} --embedding {output.embedding:q}"
        " > {log} 2>&1"


rule calcium_consistency:
    input:
        script=script("calcium_consistency"),
        embeddings=expand(
            CALCIUM_EMBEDDING, kind=EMBEDDING["kinds"], mouse=EMBEDDED_MICE
        ),
    output:
        metrics=f"{CALCIUM_ROOT}/metrics/consistency.parquet",
    log:
        "logs/calcium_consistency/consistency.log",
    benchmark:
        "benchmarks/calcium_consistency/consistency.tsv"
    conda:
        "../../envs/learn.yaml"
    params:
        kinds=consistency_args(),
        mice=EMBEDDED_MICE,
    shell:
        "python {input.script} {params.kinds} --mice {params.mice}"
        " --metrics {output.metrics:q} > {log} 2>&1"


rule plot_calcium_consistency:
    input:
        script=script("plot_calcium_consistency"),
        metrics=f"{CALCIUM_ROOT}/metrics/consistency.parquet",
    output:
        pdf="results/figures/calcium_consistency.pdf",
        png=report(
            "results/figures/calcium_consistency.png",
            caption="../report/calcium_consistency.rst",
            category="Allen calcium (CEBRA)",
        ),
    log:
        "logs/plot_calcium_consistency/calcium_consistency.log",
    benchmark:
        "benchmarks/plot_calcium_consistency/calcium_consistency.tsv"
    localrule: True
    conda:
        "../../envs/learn.yaml"
    shell:
        "python {input.script} --metrics {input.metrics:q} --pdf {output.pdf:q}"
        " --png {output.png:q} > {log} 2>&1"


rule plot_calcium_embedding:
    input:
        script=script("plot_calcium_embedding"),
        embeddings=expand(
            CALCIUM_EMBEDDING, mouse=EMBEDDED_MICE[0], kind=EMBEDDING["kinds"]
        ),
    output:
        pdf="results/figures/calcium_embedding.pdf",
        png=report(
            "results/figures/calcium_embedding.png",
            caption="../report/calcium_embedding.rst",
            category="Allen calcium (CEBRA)",
        ),
    log:
        "logs/plot_calcium_embedding/calcium_embedding.log",
    benchmark:
        "benchmarks/plot_calcium_embedding/calcium_embedding.tsv"
    localrule: True
    conda:
        "../../envs/learn.yaml"
    params:
        kinds=EMBEDDING["kinds"],
        mouse=EMBEDDED_MICE[0],
    shell:
        "python {input.script} --embeddings {input.embeddings:q} --kinds {params.kinds}"
        " --mouse {params.mouse} --pdf {output.pdf:q} --png {output.png:q} > {log} 2>&1"
