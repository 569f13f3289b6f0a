# simulate: a BIDS THINGS-MEG dataset with the real trial structure and a known ground truth.

if MEG["source"] == "simulate":

    rule simulate_things_meg:
        input:
            script=script("simulate_things_meg"),
            reference=resolve(MEG["reference_bids"]),
        output:
            bids=directory(BIDS_ROOT),
            stimuli=directory(SIMULATED_STIMULI),
            truth=directory(f"{MEG_ROOT}/ground_truth"),
        log:
            "logs/simulate_things_meg/things_meg.log",
        benchmark:
            "benchmarks/simulate_things_meg/things_meg.tsv"
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
