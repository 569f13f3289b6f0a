# The reproduction scorecard: every paper's headline numbers (resources/paper_values.yaml)
# beside this run's, from the metrics tables of the papers' chains this config builds
# (PLAN.scorecard_tables); a result whose table or rows this config does not build says
# "not run". The science is brainlatent.scorecard.

from brainlatent.plan import SCORECARD
from brainlatent.scorecard import data_labels

if PLAN.scorecard_tables:

    rule scorecard:
        input:
            script=script("build_scorecard"),
            package=package("build_scorecard"),
            values=PLAN.paper_values,
            tables=list(PLAN.scorecard_tables),
        output:
            parquet=SCORECARD[0],
            html=report(
                SCORECARD[1],
                caption="../report/scorecard.rst",
                category="Reproduction scorecard",
            ),
        log:
            "logs/scorecard/scorecard.log",
        benchmark:
            "logs/benchmarks/scorecard/scorecard.tsv"
        localrule: True
        conda:
            "../../envs/learn.yaml"
        params:
            data=as_json(data_labels(config)),
        shell:
            "python {input.script} --values {input.values:q} --tables {input.tables:q}"
            " --data {params.data:q} --parquet {output.parquet:q} --html {output.html:q}"
            " > {log} 2>&1"
