# The make-bench results in the report: only when `make bench` has written some.


BENCHMARK_RESULTS = sorted(
    str(p) for p in (BASE / "benchmarks" / "results").glob("*.json")
)

if BENCHMARK_RESULTS:

    rule report_benchmarks:
        input:
            script=script("report_benchmarks"),
            results=BENCHMARK_RESULTS,
        output:
            html=report(
                "results/benchmarks/benchmarks.html",
                caption="../report/benchmarks.rst",
                category="Benchmarks",
            ),
        log:
            "logs/report_benchmarks/benchmarks.log",
        benchmark:
            "benchmarks/report_benchmarks/benchmarks.tsv"
        localrule: True
        conda:
            "../../envs/learn.yaml"
        shell:
            "python {input.script} --results {input.results:q} --html {output.html:q}"
            " > {log} 2>&1"
