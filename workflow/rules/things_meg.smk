# THINGS-MEG (Benchetrit, Banville & King 2023): simulate or download ds004212, preprocess
# run by run (or read the authors' epochs), embed the images, fit the ridge baseline per
# subject and the brain module across subjects, evaluate retrieval over the whole epoch
# (among the test images, and among them plus never-seen images) and in sliding windows.

MEG = config["things_meg"]  # the settings, passed to the scripts as they are
# Subjects in a fixed order whatever the config's, so reordering them reruns nothing: the
# brain module's checkpoint keeps the names of its subject layers, and evaluation finds a
# subject by name.
SUBJECTS = sorted(PLAN.meg.subjects)
IMAGE_MODELS = list(PLAN.meg.image_models)
MEG_ROOT = PLAN.meg.root
BIDS_ROOT = PLAN.meg.bids
MEG_STIMULI = PLAN.meg.stimuli  # simulated, or the index of the licensed THINGS images


if MEG["source"] == "simulate":

    rule simulate_things_meg:
        input:
            script=script("simulate_things_meg"),
            package=package("simulate_things_meg"),
            reference=PLAN.resolve(MEG["reference_bids"]),
        output:
            bids=directory(BIDS_ROOT),
            stimuli=directory(MEG_STIMULI),
            truth=directory(f"{MEG_ROOT}/ground_truth"),
        log:
            "logs/simulate_things_meg/things_meg.log",
        benchmark:
            "logs/benchmarks/simulate_things_meg/things_meg.tsv"
        priority: 50  # the brain module's inputs: start the longest chain first
        conda:
            "../../envs/mne.yaml"
        params:
            subjects=SUBJECTS,
            sessions=MEG["sessions"],
            runs=MEG["runs"],
            trials=MEG["trials_per_run"] or 0,
            sfreq=MEG["sfreq"],
            simulation=as_json(MEG["simulate"]),
            seed=config["seed"],
        shell:
            "python {input.script} --reference {input.reference:q} --bids {output.bids:q}"
            " --stimuli {output.stimuli:q} --truth {output.truth:q}"
            " --subjects {params.subjects} --sessions {params.sessions} --runs {params.runs}"
            " --trials-per-run {params.trials} --sfreq {params.sfreq}"
            " --simulation {params.simulation:q} --seed {params.seed} > {log} 2>&1"


if MEG["source"] == "download":

    rule download_things_meg:
        input:
            script=script("download_things_meg"),
            manifest=PLAN.resolve(MEG["manifest"]),
        output:
            bids=directory(BIDS_ROOT),
        log:
            "logs/download_things_meg/things_meg.log",
        benchmark:
            "logs/benchmarks/download_things_meg/things_meg.tsv"
        localrule: True
        conda:
            "../../envs/mne.yaml"
        resources:
            downloads=1,
        params:
            subjects=SUBJECTS,
            sessions=MEG["sessions"],
            runs=MEG["runs"],
            data=MEG["data"],
        shell:
            "python {input.script} --manifest {input.manifest:q} --bids {output.bids:q}"
            " --cache data/ds004212"
            " --subjects {params.subjects} --sessions {params.sessions} --runs {params.runs}"
            " --data {params.data} > {log} 2>&1"

    rule index_things_images:
        input:
            script=script("index_things_images"),
            package=package("index_things_images"),
            bids=BIDS_ROOT,
        output:
            stimuli=directory(MEG_STIMULI),
        log:
            "logs/index_things_images/things_meg.log",
        benchmark:
            "logs/benchmarks/index_things_images/things_meg.tsv"
        localrule: True
        conda:
            "../../envs/mne.yaml"
        params:
            images=PLAN.resolve(MEG["stimuli_dir"]),
        shell:
            "python {input.script} --bids {input.bids:q} --images {params.images:q}"
            " --stimuli {output.stimuli:q} > {log} 2>&1"


if MEG["data"] == "derivatives":

    rule preprocess_meg_derivatives:
        input:
            script=script("preprocess_meg_derivatives"),
            package=package("preprocess_meg_derivatives"),
            bids=BIDS_ROOT,
            stimuli=MEG_STIMULI,
        output:
            epochs=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy",
            trials=f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
            info=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.json",
        log:
            "logs/preprocess_meg/sub-{subject}.log",
        benchmark:
            "logs/benchmarks/preprocess_meg/sub-{subject}.tsv"
        conda:
            "../../envs/mne.yaml"
        resources:
            mem_mb=lambda wildcards, attempt: on_retry(4000, attempt),  # 500 epochs at a time
        params:
            derivative=lambda wildcards: PLAN.meg.derivative(wildcards.subject),
            sessions=MEG["sessions"],
            runs=MEG["runs"],
            recipe=as_json(MEG["preprocess"]),
            zero_shot="--zero-shot" if MEG["zero_shot"] else "",
        shell:
            "python {input.script} --derivative {params.derivative:q} --bids {input.bids:q}"
            " --stimuli {input.stimuli:q} --subject {wildcards.subject}"
            " --sessions {params.sessions} --runs {params.runs} --recipe {params.recipe:q}"
            " {params.zero_shot}"
            " --epochs {output.epochs:q} --trials {output.trials:q} --info {output.info:q}"
            " > {log} 2>&1"

else:

    rule preprocess_meg:
        input:
            script=script("preprocess_meg"),
            package=package("preprocess_meg"),
            bids=BIDS_ROOT,
            stimuli=MEG_STIMULI,
        output:
            epochs=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy",
            trials=f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
            info=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.json",
        log:
            "logs/preprocess_meg/sub-{subject}.log",
        benchmark:
            "logs/benchmarks/preprocess_meg/sub-{subject}.tsv"
        priority: 50  # the brain module's inputs: start the longest chain first
        conda:
            "../../envs/mne.yaml"
        resources:
            mem_mb=meg_preprocess_mem_mb,
        params:
            sessions=MEG["sessions"],
            runs=MEG["runs"],
            sfreq=MEG["sfreq"],
            recipe=as_json(MEG["preprocess"]),
            zero_shot="--zero-shot" if MEG["zero_shot"] else "",
        shell:
            "python {input.script} --bids {input.bids:q} --stimuli {input.stimuli:q}"
            " --subject {wildcards.subject} --sessions {params.sessions} --runs {params.runs}"
            " --raw-sfreq {params.sfreq} --recipe {params.recipe:q} {params.zero_shot}"
            " --epochs {output.epochs:q} --trials {output.trials:q} --info {output.info:q}"
            " > {log} 2>&1"


rule embed_images:
    input:
        unpack(get_weights),
        script=script("embed_images"),
        package=package("embed_images"),
        stimuli=MEG_STIMULI,
    output:
        features=f"{MEG_ROOT}/features/{{image_model}}.npy",
        index=f"{MEG_ROOT}/features/{{image_model}}.parquet",
    log:
        "logs/embed_images/{image_model}.log",
    benchmark:
        "logs/benchmarks/embed_images/{image_model}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=image_model_mem_mb,
    params:
        weights=lambda wildcards, input: input.get("weights", ""),
    shell:
        "python {input.script} --stimuli {input.stimuli:q} --model {wildcards.image_model}"
        " --weights={params.weights:q} --features {output.features:q} --index {output.index:q}"
        " > {log} 2>&1"


# Extra retrieval candidates (the paper's large set): images the participants never saw,
# embedded by every image model like the stimuli. Simulated: new images of the test images'
# concepts; real: the THINGS images never shown in THINGS-MEG.
if MEG["source"] == "simulate":

    rule simulate_extra_images:
        input:
            script=script("simulate_extra_images"),
            package=package("simulate_extra_images"),
            bids=BIDS_ROOT,
        output:
            stimuli=directory(PLAN.meg.extra_stimuli),
        log:
            "logs/simulate_extra_images/things_meg.log",
        benchmark:
            "logs/benchmarks/simulate_extra_images/things_meg.tsv"
        conda:
            "../../envs/mne.yaml"
        params:
            number=PLAN.meg.extra_candidates,
            image_size=MEG["simulate"].get("image_size", 64),
            seed=config["seed"],  # the simulator's: the same concept prototypes
        shell:
            "python {input.script} --bids {input.bids:q} --number {params.number}"
            " --seed {params.seed} --image-size {params.image_size}"
            " --stimuli {output.stimuli:q} > {log} 2>&1"


if MEG["source"] == "download":

    rule index_extra_images:
        input:
            script=script("index_extra_images"),
            package=package("index_extra_images"),
            reference=PLAN.resolve(MEG["reference_bids"]),  # every run's events.tsv
            bids=BIDS_ROOT,
        output:
            stimuli=directory(PLAN.meg.extra_stimuli),
        log:
            "logs/index_extra_images/things_meg.log",
        benchmark:
            "logs/benchmarks/index_extra_images/things_meg.tsv"
        localrule: True
        conda:
            "../../envs/mne.yaml"
        params:
            images=PLAN.resolve(MEG["stimuli_dir"]),
            number=PLAN.meg.extra_candidates,
            seed=config["seed"],
        shell:
            "python {input.script} --events {input.reference:q} {input.bids:q}"
            " --images {params.images:q} --number {params.number} --seed {params.seed}"
            " --stimuli {output.stimuli:q} > {log} 2>&1"


rule embed_extra_images:
    input:
        unpack(get_weights),
        script=script("embed_images"),
        package=package("embed_images"),
        stimuli=PLAN.meg.extra_stimuli,
    output:
        features=f"{PLAN.meg.extra_features}/{{image_model}}.npy",
        index=f"{PLAN.meg.extra_features}/{{image_model}}.parquet",
    log:
        "logs/embed_extra_images/{image_model}.log",
    benchmark:
        "logs/benchmarks/embed_extra_images/{image_model}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=image_model_mem_mb,
    params:
        weights=lambda wildcards, input: input.get("weights", ""),
    shell:
        "python {input.script} --stimuli {input.stimuli:q} --model {wildcards.image_model}"
        " --weights={params.weights:q} --features {output.features:q} --index {output.index:q}"
        " > {log} 2>&1"


rule fit_ridge:
    input:
        script=script("fit_ridge"),
        package=package("fit_ridge"),
        epochs=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy",
        trials=f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
        features=f"{MEG_ROOT}/features/{{image_model}}.npy",
        index=f"{MEG_ROOT}/features/{{image_model}}.parquet",
    output:
        model=f"{MEG_ROOT}/sub-{{subject}}/ridge/{{image_model}}.joblib",
    log:
        "logs/fit_ridge/sub-{subject}_{image_model}.log",
    benchmark:
        "logs/benchmarks/fit_ridge/sub-{subject}_{image_model}.tsv"
    conda:
        "../../envs/learn.yaml"
    resources:
        mem_mb=mem_from_inputs(3, 1500),  # flattened epochs, float64 solves
    params:
        alphas=MEG["ridge"]["alphas"],
    shell:
        "python {input.script} --epochs {input.epochs:q} --trials {input.trials:q}"
        " --features {input.features:q} --index {input.index:q} --alphas {params.alphas}"
        " --model {output.model:q} > {log} 2>&1"


rule fit_brain_module:
    input:
        script=script("fit_brain_module"),
        package=package("fit_brain_module"),
        epochs=expand(
            f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy", subject=SUBJECTS
        ),
        trials=expand(
            f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
            subject=SUBJECTS,
        ),
        info=expand(
            f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.json", subject=SUBJECTS
        ),
        features=f"{MEG_ROOT}/features/{{image_model}}.npy",
        index=f"{MEG_ROOT}/features/{{image_model}}.parquet",
    output:
        model=f"{MEG_ROOT}/brain_module/{{image_model}}/model.pt",
        history=f"{MEG_ROOT}/brain_module/{{image_model}}/history.parquet",
    log:
        "logs/fit_brain_module/{image_model}.log",
    benchmark:
        "logs/benchmarks/fit_brain_module/{image_model}.tsv"
    priority: 50  # long: started as soon as the MEG is preprocessed
    conda:
        "../../envs/torch.yaml"
    threads: 1  # 2 threads reach only 1.3×: one each, run beside the other jobs
    resources:
        mem_mb=mem_from_inputs(1.5, 3000),  # every subject's epochs, cached (read a batch at a time)
        device=DEVICE,
    params:
        subjects=SUBJECTS,  # in the order of the epochs
        hyperparameters=as_json(MEG["brain_module"]),
        seed=config["seed"],
        zero_shot="--zero-shot" if MEG["zero_shot"] else "",
    shell:
        "python {input.script} --epochs {input.epochs:q} --trials {input.trials:q}"
        " --info {input.info:q} --subjects {params.subjects} --features {input.features:q}"
        " --index {input.index:q} --hyperparameters {params.hyperparameters:q}"
        " --seed {params.seed} {params.zero_shot} --threads {threads} --device {resources.device}"
        " --model {output.model:q} --history {output.history:q} > {log} 2>&1"


rule evaluate_retrieval:
    input:
        script=script("evaluate_retrieval"),
        package=package("evaluate_retrieval"),
        epochs=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy",
        trials=f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
        features=expand(
            f"{MEG_ROOT}/features/{{image_model}}.npy", image_model=IMAGE_MODELS
        ),
        index=expand(
            f"{MEG_ROOT}/features/{{image_model}}.parquet", image_model=IMAGE_MODELS
        ),
        ridge=expand(
            f"{MEG_ROOT}/sub-{{{{subject}}}}/ridge/{{image_model}}.joblib",
            image_model=IMAGE_MODELS,
        ),
        brain_module=expand(
            f"{MEG_ROOT}/brain_module/{{image_model}}/model.pt",
            image_model=IMAGE_MODELS,
        ),
        # the large candidate set: none when extra_candidates is 0
        extra_features=expand(
            f"{PLAN.meg.extra_features}/{{image_model}}.npy",
            image_model=IMAGE_MODELS if PLAN.meg.extra_candidates else [],
        ),
        extra_index=expand(
            f"{PLAN.meg.extra_features}/{{image_model}}.parquet",
            image_model=IMAGE_MODELS if PLAN.meg.extra_candidates else [],
        ),
    output:
        metrics=f"{MEG_ROOT}/sub-{{subject}}/evaluate/retrieval.parquet",
    log:
        "logs/evaluate_retrieval/sub-{subject}.log",
    benchmark:
        "logs/benchmarks/evaluate_retrieval/sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=mem_from_inputs(2, 1500),
    params:
        image_models=IMAGE_MODELS,
        top_k=MEG["evaluate"]["top_k"],
    shell:
        "python {input.script} --subject {wildcards.subject} --epochs {input.epochs:q}"
        " --trials {input.trials:q} --image-models {params.image_models}"
        " --features {input.features:q} --index {input.index:q} --ridge {input.ridge:q}"
        " --brain-module {input.brain_module:q} --top-k {params.top_k}"
        " --extra-features {input.extra_features:q} --extra-index {input.extra_index:q}"
        " --metrics {output.metrics:q} > {log} 2>&1"


rule evaluate_timecourse:
    input:
        script=script("evaluate_timecourse"),
        package=package("evaluate_timecourse"),
        epochs=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy",
        trials=f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
        info=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.json",
        features=expand(
            f"{MEG_ROOT}/features/{{image_model}}.npy", image_model=IMAGE_MODELS
        ),
        index=expand(
            f"{MEG_ROOT}/features/{{image_model}}.parquet", image_model=IMAGE_MODELS
        ),
    output:
        metrics=f"{MEG_ROOT}/sub-{{subject}}/evaluate/timecourse.parquet",
    log:
        "logs/evaluate_timecourse/sub-{subject}.log",
    benchmark:
        "logs/benchmarks/evaluate_timecourse/sub-{subject}.tsv"
    conda:
        "../../envs/learn.yaml"
    resources:
        mem_mb=mem_from_inputs(2, 1500),
    params:
        image_models=IMAGE_MODELS,
        alphas=MEG["ridge"]["alphas"],
        length=MEG["evaluate"]["window_length"],
        step=MEG["evaluate"]["window_step"],
        top_k=MEG["evaluate"]["top_k"],
    shell:
        "python {input.script} --subject {wildcards.subject} --epochs {input.epochs:q}"
        " --trials {input.trials:q} --info {input.info:q} --image-models {params.image_models}"
        " --features {input.features:q} --index {input.index:q} --alphas {params.alphas}"
        " --window-length {params.length} --window-step {params.step} --top-k {params.top_k}"
        " --metrics {output.metrics:q} > {log} 2>&1"


rule collect_metrics:
    input:
        script=script("collect_metrics"),
        package=package("collect_metrics"),
        tables=expand(
            f"{MEG_ROOT}/sub-{{subject}}/evaluate/{{{{analysis}}}}.parquet",
            subject=SUBJECTS,
        ),
    output:
        metrics=f"{MEG_ROOT}/metrics/{{analysis}}.parquet",
    log:
        "logs/collect_metrics/{analysis}.log",
    benchmark:
        "logs/benchmarks/collect_metrics/{analysis}.tsv"
    localrule: True
    conda:
        "../../envs/learn.yaml"
    shell:
        "python {input.script} --tables {input.tables:q} --metrics {output.metrics:q}"
        " > {log} 2>&1"
