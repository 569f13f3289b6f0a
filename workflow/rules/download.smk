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
        conda:
            "../../envs/mne.yaml"
        resources:
            downloads=1,
        params:
            subjects=SUBJECTS,
            sessions=MEG["sessions"],
            runs=MEG["runs"],
        shell:
            "python {input.script} --manifest {input.manifest:q} --bids {output.bids:q}"
            " --cache data/ds004212"
            " --subjects {params.subjects} --sessions {params.sessions} --runs {params.runs}"
            " > {log} 2>&1"


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
        conda:
            "../../envs/calcium.yaml"
        resources:
            downloads=1,
        params:
            session=lambda wildcards: ALLEN_SESSIONS[wildcards.mouse],
        shell:
            "python {input.script} --manifest {input.manifest:q} --session {params.session:q}"
            " --cache data/000728 --nwb {output.nwb:q} > {log} 2>&1"
