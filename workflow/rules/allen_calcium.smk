# Allen Brain Observatory calcium imaging (the CEBRA paper, DAE-NR): simulate or download
# the sessions, align them to the movie, pool pseudo-mice, decode the frame (CEBRA, PCA,
# raw), embed and compare mice, and fit DAE-NR on the natural scenes.

CALCIUM = config["allen_calcium"]  # the settings, passed to the scripts as they are
DECODING = CALCIUM["decoding"]
EMBEDDING = CALCIUM["embedding"]
CALCIUM_ROOT = PLAN.calcium.root
MICE = list(PLAN.calcium.mice)
FRAME_FEATURES = f"{CALCIUM_ROOT}/features/movie_{CALCIUM['frame_features']}.npy"
CALCIUM_EMBEDDING = PLAN.calcium.embedding_pattern
PREPROCESSED = f"{CALCIUM_ROOT}/sub-{{mouse}}/preprocess"  # a session's three files
# what the pseudo-mice pool
SESSION_INDEX = f"{CALCIUM_ROOT}/preprocess/sessions.parquet"


if CALCIUM["source"] == "simulate":

    rule simulate_allen_calcium:
        input:
            script=script("simulate_allen_calcium"),
            package=package("simulate_allen_calcium"),
        output:
            nwb=f"{CALCIUM_ROOT}/nwb/sub-{{mouse}}.nwb",
            truth=f"{CALCIUM_ROOT}/ground_truth/sub-{{mouse}}_truth.npz",
        log:
            "logs/simulate_allen_calcium/sub-{mouse}.log",
        benchmark:
            "logs/benchmarks/simulate_allen_calcium/sub-{mouse}.tsv"
        priority: 40  # the pseudo-mouse decoding is the longest calcium job
        conda:
            "../../envs/calcium.yaml"
        params:
            area=lambda wildcards: PLAN.calcium.areas[wildcards.mouse],
            simulation=as_json(CALCIUM["simulate"]),
            seed=config["seed"],
        shell:
            "python {input.script} --mouse {wildcards.mouse} --area {params.area}"
            " --nwb {output.nwb:q} --truth {output.truth:q} --simulation {params.simulation:q}"
            " --seed {params.seed} > {log} 2>&1"


rule preprocess_calcium:
    input:
        script=script("preprocess_calcium"),
        package=package("preprocess_calcium"),
        nwb=f"{CALCIUM_ROOT}/nwb/sub-{{mouse}}.nwb",
    output:
        neural=f"{PREPROCESSED}/neural.npy",
        labels=f"{PREPROCESSED}/labels.parquet",
        info=f"{PREPROCESSED}/info.json",
    log:
        "logs/preprocess_calcium/sub-{mouse}.log",
    benchmark:
        "logs/benchmarks/preprocess_calcium/sub-{mouse}.tsv"
    priority: 40  # the pseudo-mouse decoding is the longest calcium job
    conda:
        "../../envs/calcium.yaml"
    resources:
        mem_mb=mem_from_inputs(  # dF/F, templates
            3, 1000, PLAN.calcium.largest_mb(PLAN.calcium.mice)
        ),
    shell:
        "python {input.script} --nwb {input.nwb:q} --neural {output.neural:q}"
        " --labels {output.labels:q} --info {output.info:q} > {log} 2>&1"


rule embed_movie_frames:
    input:
        script=script("embed_movie_frames"),
        package=package("embed_movie_frames"),
        nwb=f"{CALCIUM_ROOT}/nwb/sub-{MICE[0]}.nwb",
    output:
        features=FRAME_FEATURES,
    log:
        "logs/embed_movie_frames/movie.log",
    benchmark:
        "logs/benchmarks/embed_movie_frames/movie.tsv"
    priority: 40  # the pseudo-mouse decoding is the longest calcium job
    conda:
        "../../envs/calcium.yaml"
    params:
        model=CALCIUM["frame_features"],
    shell:
        "python {input.script} --nwb {input.nwb:q} --model {params.model}"
        " --features {output.features:q} > {log} 2>&1"


rule index_calcium_sessions:
    input:
        script=script("index_calcium_sessions"),
        package=package("index_calcium_sessions"),
        neural=expand(f"{PREPROCESSED}/neural.npy", mouse=MICE),
        labels=expand(f"{PREPROCESSED}/labels.parquet", mouse=MICE),
        infos=expand(f"{PREPROCESSED}/info.json", mouse=MICE),
    output:
        sessions=SESSION_INDEX,
    log:
        "logs/index_calcium_sessions/sessions.log",
    benchmark:
        "logs/benchmarks/index_calcium_sessions/sessions.tsv"
    priority: 40  # the pseudo-mouse decoding is the longest calcium job
    localrule: True
    conda:
        "../../envs/calcium.yaml"
    params:
        # ids, not paths: 1,518 sessions' paths would pass the 128 kB limit of one argument
        folder=lambda wildcards: PREPROCESSED.format(mouse="{session}"),
        sessions=MICE,
    shell:
        "python {input.script} --folder {params.folder:q} --sessions {params.sessions:q}"
        " --out {output.sessions:q} > {log} 2>&1"


rule pool_pseudo_mouse:
    input:
        script=script("pool_pseudo_mouse"),
        package=package("pool_pseudo_mouse"),
        sessions=SESSION_INDEX,
    output:
        neural=f"{CALCIUM_ROOT}/sub-{{pseudo}}/preprocess/neural.npy",
        labels=f"{CALCIUM_ROOT}/sub-{{pseudo}}/preprocess/labels.parquet",
        info=f"{CALCIUM_ROOT}/sub-{{pseudo}}/preprocess/info.json",
    log:
        "logs/pool_pseudo_mouse/sub-{pseudo}.log",
    benchmark:
        "logs/benchmarks/pool_pseudo_mouse/sub-{pseudo}.tsv"
    wildcard_constraints:
        pseudo=PLAN.calcium.recordings_pattern(PLAN.calcium.pseudo_mice),
    priority: 40  # the pseudo-mouse decoding is the longest calcium job
    conda:
        "../../envs/calcium.yaml"
    params:
        # pseudo-<area>: that area's sessions (the area is read from each file)
        area=lambda wildcards: (
            f"--area {area}"
            if (area := PLAN.calcium.pseudo_area(wildcards.pseudo))
            else ""
        ),
        max_neurons=max(DECODING["neuron_counts"]),
        # each decoding seed draws its cells from all of them; the root seed's are embedded
        seeds=sorted({config["seed"], *DECODING["seeds"]}),
    shell:
        "python {input.script} --sessions {input.sessions:q} {params.area} --max-neurons {params.max_neurons}"
        " --seeds {params.seeds} --out-neural {output.neural:q}"
        " --out-labels {output.labels:q} --out-info {output.info:q} > {log} 2>&1"


rule decode_movie_frames:
    input:
        script=script("decode_movie_frames"),
        package=package("decode_movie_frames"),
        neural=f"{PREPROCESSED}/neural.npy",
        labels=f"{PREPROCESSED}/labels.parquet",
        info=f"{PREPROCESSED}/info.json",
        features=FRAME_FEATURES,
    output:
        metrics=f"{CALCIUM_ROOT}/sub-{{mouse}}/evaluate/frame_decoding.parquet",
    log:
        "logs/decode_movie_frames/sub-{mouse}.log",
    benchmark:
        "logs/benchmarks/decode_movie_frames/sub-{mouse}.tsv"
    wildcard_constraints:
        mouse=PLAN.calcium.recordings_pattern(PLAN.calcium.decoded_mice),
    priority: 40  # the pseudo-mouse decoding is the longest calcium job
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    resources:
        device=DEVICE,
        mem_mb=mem_from_inputs(4, 2000),
    params:
        methods=DECODING["methods"],
        counts=lambda wildcards: PLAN.calcium.neuron_counts(wildcards.mouse),
        seeds=DECODING["seeds"],
        pca_dim=DECODING["pca_dim"],
        window=DECODING["window"],
        cebra=as_json(CALCIUM["cebra"]),
    shell:
        "python {input.script} --mouse {wildcards.mouse} --neural {input.neural:q}"
        " --labels {input.labels:q} --info {input.info:q} --features {input.features:q} --methods {params.methods}"
        " --neuron-counts {params.counts} --seeds {params.seeds} --pca-dim {params.pca_dim}"
        " --window {params.window} --cebra {params.cebra:q} --threads {threads} --device {resources.device}"
        " --metrics {output.metrics:q} > {log} 2>&1"


rule collect_calcium_metrics:
    input:
        script=script("collect_metrics"),
        package=package("collect_metrics"),
        tables=expand(
            f"{CALCIUM_ROOT}/sub-{{mouse}}/evaluate/frame_decoding.parquet",
            mouse=PLAN.calcium.decoded_mice,
        ),
    output:
        metrics=f"{CALCIUM_ROOT}/metrics/frame_decoding.parquet",
    log:
        "logs/collect_calcium_metrics/frame_decoding.log",
    benchmark:
        "logs/benchmarks/collect_calcium_metrics/frame_decoding.tsv"
    localrule: True
    conda:
        "../../envs/learn.yaml"
    shell:
        "python {input.script} --tables {input.tables:q} --metrics {output.metrics:q}"
        " --columns any > {log} 2>&1"


rule embed_calcium:
    input:
        script=script("embed_calcium"),
        package=package("embed_calcium"),
        neural=f"{PREPROCESSED}/neural.npy",
        labels=f"{PREPROCESSED}/labels.parquet",
        info=f"{PREPROCESSED}/info.json",
        features=FRAME_FEATURES,
    output:
        embedding=CALCIUM_EMBEDDING,
    log:
        "logs/embed_calcium/sub-{mouse}_{kind}.log",
    benchmark:
        "logs/benchmarks/embed_calcium/sub-{mouse}_{kind}.tsv"
    wildcard_constraints:
        mouse=PLAN.calcium.recordings_pattern(PLAN.calcium.embedded_mice),
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    resources:
        device=DEVICE,
        mem_mb=mem_from_inputs(4, 2000),
    params:
        cebra=lambda wildcards: as_json(
            {**CALCIUM["cebra"], "output_dimension": EMBEDDING["output_dimension"]}
        ),
        seed=EMBEDDING["seed"],
        pool_seed=config["seed"],  # a pseudo-mouse: the cells its pool drew with the root seed
    shell:
        "python {input.script} --neural {input.neural:q} --labels {input.labels:q}"
        " --info {input.info:q} --pool-seed {params.pool_seed}"
        " --features {input.features:q} --kind {wildcards.kind} --cebra {params.cebra:q}"
        " --seed {params.seed} --threads {threads} --device {resources.device} --embedding {output.embedding:q}"
        " > {log} 2>&1"


rule calcium_consistency:
    input:
        script=script("calcium_consistency"),
        package=package("calcium_consistency"),
        embeddings=expand(
            CALCIUM_EMBEDDING,
            kind=EMBEDDING["kinds"],
            mouse=PLAN.calcium.embedded_mice,
        ),
    output:
        metrics=f"{CALCIUM_ROOT}/metrics/consistency.parquet",
    log:
        "logs/calcium_consistency/consistency.log",
    benchmark:
        "logs/benchmarks/calcium_consistency/consistency.tsv"
    conda:
        "../../envs/learn.yaml"
    params:
        kinds=get_consistency_args(),
        mice=list(PLAN.calcium.embedded_mice),
    shell:
        "python {input.script} {params.kinds} --mice {params.mice}"
        " --metrics {output.metrics:q} > {log} 2>&1"


if CALCIUM["source"] == "download":

    rule download_allen_calcium:
        input:
            script=script("download_allen_calcium"),
            manifest=PLAN.resolve(CALCIUM["manifest"]),
        output:
            nwb=f"{CALCIUM_ROOT}/nwb/sub-{{mouse}}.nwb",
        log:
            "logs/download_allen_calcium/sub-{mouse}.log",
        benchmark:
            "logs/benchmarks/download_allen_calcium/sub-{mouse}.tsv"
        localrule: True
        conda:
            "../../envs/calcium.yaml"
        resources:
            downloads=1,
        params:
            session=lambda wildcards: PLAN.calcium.sessions[wildcards.mouse],
        shell:
            "python {input.script} --manifest {input.manifest:q} --session {params.session:q}"
            " --cache data/000728 --nwb {output.nwb:q} > {log} 2>&1"


rule preprocess_scenes:
    input:
        script=script("preprocess_scenes"),
        package=package("preprocess_scenes"),
        nwb=f"{CALCIUM_ROOT}/nwb/sub-{{mouse}}.nwb",
    output:
        scenes=f"{PREPROCESSED}/scenes.npz",
    log:
        "logs/preprocess_scenes/sub-{mouse}.log",
    benchmark:
        "logs/benchmarks/preprocess_scenes/sub-{mouse}.tsv"
    conda:
        "../../envs/calcium.yaml"
    resources:
        mem_mb=mem_from_inputs(
            3, 1000, PLAN.calcium.largest_mb(PLAN.calcium.scene_mice)
        ),
    params:
        size=lambda wildcards: (
            f"--image-size {CALCIUM['daenr']['image_size']}"
            if CALCIUM["daenr"].get("image_size")
            else ""
        ),
    shell:
        "python {input.script} --nwb {input.nwb:q} --scenes {output.scenes:q}"
        " {params.size} > {log} 2>&1"


rule fit_daenr:
    input:
        script=script("fit_daenr"),
        package=package("fit_daenr"),
        # every session with natural scenes: the simulated mice, or the StimB sessions
        scenes=expand(
            f"{PREPROCESSED}/scenes.npz",
            mouse=PLAN.calcium.scene_mice,
        ),
    output:
        metrics=f"{CALCIUM_ROOT}/daenr/metrics.parquet",
        reconstructions=f"{CALCIUM_ROOT}/daenr/reconstructions.npz",
    log:
        "logs/fit_daenr/daenr.log",
    benchmark:
        "logs/benchmarks/fit_daenr/daenr.tsv"
    conda:
        "../../envs/calcium.yaml"
    threads: 1
    resources:
        device=DEVICE,
        mem_mb=mem_from_inputs(3, 2000),
    params:
        daenr=as_json(CALCIUM["daenr"]),
        seed=config["seed"],
    shell:
        "python {input.script} --scenes {input.scenes:q} --daenr {params.daenr:q}"
        " --seed {params.seed} --threads {threads} --device {resources.device} --metrics {output.metrics:q}"
        " --reconstructions {output.reconstructions:q} > {log} 2>&1"
