# GOD fMRI (Ozcelik et al. 2022): simulate or read ds001246, one sample per image, an image
# generator trained on the training stimuli, ridge from visual cortex to its latents,
# reconstructions and identification, and the per-ROI weight contrast.

FMRI = config["god_fmri"]  # the settings, passed to the scripts as they are
FMRI_ROOT = PLAN.fmri.root
FMRI_SUBJECTS = sorted(PLAN.fmri.subjects)  # the config's order changes nothing
FMRI_BIDS = PLAN.fmri.bids
FMRI_STIMULI = PLAN.fmri.stimuli


if FMRI["source"] == "simulate":

    rule simulate_god_fmri:
        input:
            script=script("simulate_god_fmri"),
            package=package("simulate_god_fmri"),
            reference=PLAN.resolve(FMRI["reference_bids"]),
        output:
            bids=directory(FMRI_BIDS),
            stimuli=directory(FMRI_STIMULI),
            truth=directory(f"{FMRI_ROOT}/ground_truth"),
        log:
            "logs/simulate_god_fmri/god_fmri.log",
        benchmark:
            "logs/benchmarks/simulate_god_fmri/god_fmri.tsv"
        conda:
            "../../envs/fmri.yaml"
        params:
            subjects=FMRI_SUBJECTS,
            simulation=as_json(FMRI["simulate"]),
            seed=config["seed"],
        shell:
            "python {input.script} --reference {input.reference:q} --bids {output.bids:q}"
            " --stimuli {output.stimuli:q} --truth {output.truth:q}"
            " --subjects {params.subjects} --simulation {params.simulation:q}"
            " --seed {params.seed} > {log} 2>&1"

    rule simulated_features:
        input:
            script=script("simulated_features"),
            package=package("simulated_features"),
            truth=f"{FMRI_ROOT}/ground_truth",
        output:
            features=f"{FMRI_ROOT}/features/simulated_{{level}}.npy",
            index=f"{FMRI_ROOT}/features/simulated_{{level}}.parquet",
        log:
            "logs/simulated_features/{level}.log",
        benchmark:
            "logs/benchmarks/simulated_features/{level}.tsv"
        conda:
            "../../envs/fmri.yaml"
        shell:
            "python {input.script} --truth {input.truth:q}/images.parquet"
            " --level {wildcards.level} --features {output.features:q}"
            " --index {output.index:q} > {log} 2>&1"


if FMRI["source"] == "download":

    rule download_god_fmri:
        input:
            script=script("download_god_fmri"),
            manifest=PLAN.resolve(FMRI["manifest"]),
        output:
            bids=directory(FMRI_BIDS),
            stimuli=directory(FMRI_STIMULI),
        log:
            "logs/download_god_fmri/god_fmri.log",
        benchmark:
            "logs/benchmarks/download_god_fmri/god_fmri.tsv"
        localrule: True
        conda:
            "../../envs/fmri.yaml"
        resources:
            downloads=1,
        params:
            subjects=FMRI_SUBJECTS,
            images=PLAN.resolve(FMRI["images_dir"]),
        shell:
            "python {input.script} --manifest {input.manifest:q} --subjects {params.subjects}"
            " --cache data/ds001246 --images {params.images:q} --bids {output.bids:q}"
            " --stimuli {output.stimuli:q} > {log} 2>&1"


rule preprocess_god_fmri:
    input:
        script=script("preprocess_god_fmri"),
        package=package("preprocess_god_fmri"),
        bids=FMRI_BIDS,
        stimuli=FMRI_STIMULI,
    output:
        samples=f"{FMRI_ROOT}/sub-{{fmri_subject}}/preprocess/samples.npy",
        trials=f"{FMRI_ROOT}/sub-{{fmri_subject}}/preprocess/trials.parquet",
        voxels=f"{FMRI_ROOT}/sub-{{fmri_subject}}/preprocess/voxels.parquet",
    log:
        "logs/preprocess_god_fmri/sub-{fmri_subject}.log",
    benchmark:
        "logs/benchmarks/preprocess_god_fmri/sub-{fmri_subject}.tsv"
    conda:
        "../../envs/fmri.yaml"
    params:
        rois=FMRI["rois"],
        delay=FMRI["hrf_delay"],
    shell:
        "python {input.script} --bids {input.bids:q} --stimuli {input.stimuli:q}"
        " --subject {wildcards.fmri_subject} --rois {params.rois} --delay {params.delay}"
        " --samples {output.samples:q} --trials {output.trials:q} --voxels {output.voxels:q}"
        " > {log} 2>&1"


rule fit_image_generator:
    input:
        script=script("fit_image_generator"),
        package=package("fit_image_generator"),
        stimuli=FMRI_STIMULI,
        trials=expand(
            f"{FMRI_ROOT}/sub-{{fmri_subject}}/preprocess/trials.parquet",
            fmri_subject=FMRI_SUBJECTS,
        ),
    output:
        model=f"{FMRI_ROOT}/generator/{PLAN.fmri.generator}.pt",
        latents=f"{FMRI_ROOT}/generator/latents.npz",
    log:
        "logs/fit_image_generator/generator.log",
    benchmark:
        "logs/benchmarks/fit_image_generator/generator.tsv"
    conda:
        "../../envs/fmri.yaml"
    threads: 1
    resources:
        device=DEVICE,
    params:
        generator=as_json(FMRI["generator"]),
        seed=config["seed"],
    shell:
        "python {input.script} --stimuli {input.stimuli:q} --trials {input.trials:q}"
        " --generator {params.generator:q} --seed {params.seed} --threads {threads} --device {resources.device}"
        " --model {output.model:q} --latents {output.latents:q} > {log} 2>&1"


rule embed_god_images:
    input:
        unpack(get_weights),
        script=script("embed_images"),
        package=package("embed_images"),
        stimuli=FMRI_STIMULI,
    output:
        features=f"{FMRI_ROOT}/features/{{feature_model}}.npy",
        index=f"{FMRI_ROOT}/features/{{feature_model}}.parquet",
    log:
        "logs/embed_god_images/{feature_model}.log",
    benchmark:
        "logs/benchmarks/embed_god_images/{feature_model}.tsv"
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=image_model_mem_mb,
    params:
        weights=lambda wildcards, input: input.get("weights", ""),
    shell:
        "python {input.script} --stimuli {input.stimuli:q} --model {wildcards.feature_model}"
        " --weights={params.weights:q} --features {output.features:q} --index {output.index:q}"
        " > {log} 2>&1"


rule decode_god_fmri:
    input:
        script=script("decode_god_fmri"),
        package=package("decode_god_fmri"),
        samples=f"{FMRI_ROOT}/sub-{{fmri_subject}}/preprocess/samples.npy",
        trials=f"{FMRI_ROOT}/sub-{{fmri_subject}}/preprocess/trials.parquet",
        generator=f"{FMRI_ROOT}/generator/{PLAN.fmri.generator}.pt",
        latents=f"{FMRI_ROOT}/generator/latents.npz",
    output:
        metrics=f"{FMRI_ROOT}/sub-{{fmri_subject}}/decode/metrics.parquet",
        reconstructions=f"{FMRI_ROOT}/sub-{{fmri_subject}}/decode/reconstructions.npz",
    log:
        "logs/decode_god_fmri/sub-{fmri_subject}.log",
    benchmark:
        "logs/benchmarks/decode_god_fmri/sub-{fmri_subject}.tsv"
    conda:
        "../../envs/fmri.yaml"
    threads: 1
    params:
        alphas=as_json(FMRI["ridge"]["alphas"]),
    shell:
        "python {input.script} --subject {wildcards.fmri_subject}"
        " --samples {input.samples:q} --trials {input.trials:q}"
        " --generator {input.generator:q} --latents {input.latents:q}"
        " --alphas {params.alphas:q} --threads {threads} --metrics {output.metrics:q}"
        " --reconstructions {output.reconstructions:q} > {log} 2>&1"


rule god_roi_weights:
    input:
        script=script("god_roi_weights"),
        package=package("god_roi_weights"),
        samples=f"{FMRI_ROOT}/sub-{{fmri_subject}}/preprocess/samples.npy",
        trials=f"{FMRI_ROOT}/sub-{{fmri_subject}}/preprocess/trials.parquet",
        voxels=f"{FMRI_ROOT}/sub-{{fmri_subject}}/preprocess/voxels.parquet",
        low=expand(
            f"{FMRI_ROOT}/features/{{f}}.npy", f=FMRI["roi_weights"]["low_level"]
        ),
        high=expand(
            f"{FMRI_ROOT}/features/{{f}}.npy", f=FMRI["roi_weights"]["high_level"]
        ),
    output:
        table=f"{FMRI_ROOT}/sub-{{fmri_subject}}/roi_weights.parquet",
    log:
        "logs/god_roi_weights/sub-{fmri_subject}.log",
    benchmark:
        "logs/benchmarks/god_roi_weights/sub-{fmri_subject}.tsv"
    conda:
        "../../envs/fmri.yaml"
    params:
        alphas=as_json(FMRI["ridge"]["alphas"]),
    shell:
        "python {input.script} --subject {wildcards.fmri_subject}"
        " --samples {input.samples:q} --trials {input.trials:q} --voxels {input.voxels:q}"
        " --low {input.low:q} --high {input.high:q} --alphas {params.alphas:q}"
        " --table {output.table:q} > {log} 2>&1"
