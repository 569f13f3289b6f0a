# THINGS-MEG image generation (Benchetrit, Banville & King 2023, Figs. 4-5): an image
# generator trained on every subject's training images, decoders from MEG to its latents
# (ridge per subject, the brain module's MSE head across subjects), the test images drawn
# from the decoded latents and scored against the seen ones, over the whole epoch and in
# sliding windows. Reads things_meg.smk's preprocessed epochs and stimuli.

GENERATION = MEG["generation"]
GENERATOR = f"{MEG_ROOT}/generator/{PLAN.meg.generator}.pt"
LATENTS = f"{MEG_ROOT}/generator/latents.npy"
LATENTS_INDEX = f"{MEG_ROOT}/generator/latents.parquet"
GENERATION_DECODERS = list(PLAN.meg.generation_decoders)
GENERATION_MODELS = {
    "ridge": f"{MEG_ROOT}/sub-{{subject}}/generation/ridge.joblib",
    "brain_module": f"{MEG_ROOT}/generation/brain_module/model.pt",
}


# The high-level image model's pretrained weights, an input (none for handcrafted models).
HIGH_LEVEL = GENERATION["high_level"]
HIGH_LEVEL_WEIGHTS = (
    {"weights": PLAN.weights[HIGH_LEVEL]} if HIGH_LEVEL in PLAN.weights else {}
)


rule fit_generation_generator:
    input:
        script=script("fit_generation_generator"),
        package=package("fit_generation_generator"),
        stimuli=MEG_STIMULI,
        trials=expand(
            f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet", subject=SUBJECTS
        ),
    output:
        model=GENERATOR,
        latents=LATENTS,
        index=LATENTS_INDEX,
    log:
        "logs/fit_generation_generator/things_meg.log",
    benchmark:
        "logs/benchmarks/fit_generation_generator/things_meg.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        device=DEVICE,
    params:
        generator=as_json(GENERATION["generator"]),
        seed=config["seed"],
    shell:
        "python {input.script} --stimuli {input.stimuli:q} --trials {input.trials:q}"
        " --generator {params.generator:q} --seed {params.seed} --threads {threads}"
        " --device {resources.device} --model {output.model:q} --latents {output.latents:q}"
        " --index {output.index:q} > {log} 2>&1"


rule fit_generation_ridge:
    input:
        script=script("fit_ridge"),
        package=package("fit_ridge"),
        epochs=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy",
        trials=f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
        features=LATENTS,
        index=LATENTS_INDEX,
    output:
        model=GENERATION_MODELS["ridge"],
    log:
        "logs/fit_generation_ridge/sub-{subject}.log",
    benchmark:
        "logs/benchmarks/fit_generation_ridge/sub-{subject}.tsv"
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


rule fit_generation_brain_module:
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
        features=LATENTS,
        index=LATENTS_INDEX,
    output:
        model=GENERATION_MODELS["brain_module"],
        history=f"{MEG_ROOT}/generation/brain_module/history.parquet",
    log:
        "logs/fit_generation_brain_module/things_meg.log",
    benchmark:
        "logs/benchmarks/fit_generation_brain_module/things_meg.tsv"
    priority: 40  # long: started as soon as the generator's latents exist
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=mem_from_inputs(1.5, 3000),  # every subject's epochs, cached (read a batch at a time)
        device=DEVICE,
    params:
        subjects=SUBJECTS,  # in the order of the epochs
        hyperparameters=as_json(
            {**MEG["brain_module"], "clip_weight": GENERATION["clip_weight"]}
        ),
        seed=config["seed"],
        zero_shot="--zero-shot" if MEG["zero_shot"] else "",
    shell:
        "python {input.script} --epochs {input.epochs:q} --trials {input.trials:q}"
        " --info {input.info:q} --subjects {params.subjects} --features {input.features:q}"
        " --index {input.index:q} --hyperparameters {params.hyperparameters:q}"
        " --seed {params.seed} {params.zero_shot} --threads {threads} --device {resources.device}"
        " --model {output.model:q} --history {output.history:q} > {log} 2>&1"


rule evaluate_generation:
    input:
        **HIGH_LEVEL_WEIGHTS,
        script=script("evaluate_generation"),
        package=package("evaluate_generation"),
        epochs=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy",
        trials=f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
        stimuli=MEG_STIMULI,
        generator=GENERATOR,
        latents=LATENTS,
        index=LATENTS_INDEX,
        models=[GENERATION_MODELS[name] for name in GENERATION_DECODERS],  # {subject} filled
    output:
        metrics=f"{MEG_ROOT}/sub-{{subject}}/evaluate/generation.parquet",
        images=PLAN.meg.generation_images("{subject}"),
    log:
        "logs/evaluate_generation/sub-{subject}.log",
    benchmark:
        "logs/benchmarks/evaluate_generation/sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=mem_from_inputs(2, 1500),
    params:
        decoders=GENERATION_DECODERS,
        kind=PLAN.meg.generator,
        high_level=HIGH_LEVEL,
        weights=HIGH_LEVEL_WEIGHTS.get("weights", ""),
        shuffles=GENERATION["shuffles"],
        seed=config["seed"],
    shell:
        "python {input.script} --subject {wildcards.subject} --epochs {input.epochs:q}"
        " --trials {input.trials:q} --stimuli {input.stimuli:q}"
        " --generator {input.generator:q} --generator-kind {params.kind}"
        " --latents {input.latents:q} --index {input.index:q}"
        " --decoders {params.decoders} --models {input.models:q}"
        " --high-level {params.high_level} --weights={params.weights:q}"
        " --shuffles {params.shuffles} --seed {params.seed} --threads {threads}"
        " --metrics {output.metrics:q} --images {output.images:q} > {log} 2>&1"


rule evaluate_generation_timecourse:
    input:
        **HIGH_LEVEL_WEIGHTS,
        script=script("evaluate_generation_timecourse"),
        package=package("evaluate_generation_timecourse"),
        epochs=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.npy",
        trials=f"{MEG_ROOT}/sub-{{subject}}/preprocess/trials.parquet",
        info=f"{MEG_ROOT}/sub-{{subject}}/preprocess/epochs.json",
        stimuli=MEG_STIMULI,
        generator=GENERATOR,
        latents=LATENTS,
        index=LATENTS_INDEX,
    output:
        metrics=f"{MEG_ROOT}/sub-{{subject}}/evaluate/generation_timecourse.parquet",
    log:
        "logs/evaluate_generation_timecourse/sub-{subject}.log",
    benchmark:
        "logs/benchmarks/evaluate_generation_timecourse/sub-{subject}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=mem_from_inputs(2, 1500),
    params:
        kind=PLAN.meg.generator,
        high_level=HIGH_LEVEL,
        weights=HIGH_LEVEL_WEIGHTS.get("weights", ""),
        alphas=MEG["ridge"]["alphas"],
        length=MEG["evaluate"]["window_length"],
        step=MEG["evaluate"]["window_step"],
        shuffles=GENERATION["shuffles"],
        seed=config["seed"],
    shell:
        "python {input.script} --subject {wildcards.subject} --epochs {input.epochs:q}"
        " --trials {input.trials:q} --info {input.info:q} --stimuli {input.stimuli:q}"
        " --generator {input.generator:q} --generator-kind {params.kind}"
        " --latents {input.latents:q} --index {input.index:q}"
        " --high-level {params.high_level} --weights={params.weights:q}"
        " --alphas {params.alphas} --window-length {params.length}"
        " --window-step {params.step} --shuffles {params.shuffles} --seed {params.seed}"
        " --threads {threads} --metrics {output.metrics:q} > {log} 2>&1"


rule collect_generation_metrics:
    input:
        script=script("collect_metrics"),
        package=package("collect_metrics"),
        tables=expand(
            f"{MEG_ROOT}/sub-{{subject}}/evaluate/{{{{generation_table}}}}.parquet",
            subject=SUBJECTS,
        ),
    output:
        metrics=f"{MEG_ROOT}/metrics/{{generation_table}}.parquet",
    log:
        "logs/collect_generation_metrics/{generation_table}.log",
    benchmark:
        "logs/benchmarks/collect_generation_metrics/{generation_table}.tsv"
    wildcard_constraints:
        generation_table="generation|generation_timecourse",
    localrule: True
    conda:
        "../../envs/learn.yaml"
    shell:
        "python {input.script} --tables {input.tables:q} --metrics {output.metrics:q}"
        " > {log} 2>&1"
