# download: the real files named in the config, checked against the dataset's manifest.

if MEG["source"] == "download":

    rule download_things_meg:
        input:
            script=script("download_things_meg"),
            manifest=resolve(MEG["manifest"]),
        output:
            bids=directory(BIDS_ROOT),
        log:
            "logs/download_things_meg/things_meg.log",
        benchmark:
            "benchmarks/download_things_meg/things_meg.tsv"
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
            bids=BIDS_ROOT,
        output:
            stimuli=directory(SIMULATED_STIMULI),
        log:
            "logs/index_things_images/things_meg.log",
        benchmark:
            "benchmarks/index_things_images/things_meg.tsv"
        localrule: True
        conda:
            "../../envs/mne.yaml"
        params:
            images=resolve(MEG["stimuli_dir"]),
        shell:
            "python {input.script} --bids {input.bids:q} --images {params.images:q}"
            " --stimuli {output.stimuli:q} > {log} 2>&1"


if CALCIUM["source"] == "download":

    rule download_allen_calcium:
        input:
            script=script("download_allen_calcium"),
            manifest=resolve(CALCIUM["manifest"]),
        output:
            nwb=f"{CALCIUM_ROOT}/nwb/sub-{{mouse}}.nwb",
        log:
            "logs/download_allen_calcium/sub-{mouse}.log",
        benchmark:
            "benchmarks/download_allen_calcium/sub-{mouse}.tsv"
        localrule: True
        conda:
            "../../envs/calcium.yaml"
        resources:
            downloads=1,
        params:
            session=lambda wildcards: ALLEN_SESSIONS[wildcards.mouse],
        shell:
            "python {input.script} --manifest {input.manifest:q} --session {params.session:q}"
            " --cache data/000728 --nwb {output.nwb:q} > {log} 2>&1"


# Pretrained weights named in the config but not on disk yet (see common.smk).
VGG19_TO_FETCH = [path for path, model in WEIGHTS_TO_FETCH.items() if model == "vgg19"]
FOLDERS_TO_FETCH = {p: m for p, m in WEIGHTS_TO_FETCH.items() if m != "vgg19"}

if VGG19_TO_FETCH:

    rule download_vgg19_weights:
        input:
            script=script("download_weights"),
        output:
            weights=VGG19_TO_FETCH[0],
        log:
            "logs/download_weights/vgg19.log",
        benchmark:
            "benchmarks/download_weights/vgg19.tsv"
        localrule: True
        conda:
            "../../envs/torch.yaml"
        resources:
            downloads=1,
        shell:
            "python {input.script} --model vgg19 --dest {output.weights:q} > {log} 2>&1"


if FOLDERS_TO_FETCH:

    rule download_model_weights:
        input:
            script=script("download_weights"),
        output:
            weights=directory("{weights_folder}"),
        log:
            "logs/download_weights{weights_folder}.log",
        benchmark:
            "benchmarks/download_weights{weights_folder}.tsv"
        wildcard_constraints:
            weights_folder="|".join(re.escape(p) for p in FOLDERS_TO_FETCH),
        localrule: True
        conda:
            "../../envs/torch.yaml"
        resources:
            downloads=1,
        params:
            model=lambda wildcards: FOLDERS_TO_FETCH[wildcards.weights_folder],
        shell:
            "python {input.script} --model {params.model} --dest {output.weights:q}"
            " > {log} 2>&1"
