import os
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.20")

# This workflow's root, two folders above this file: workflow.basedir would be the outer
# workflow's folder when this one is used as a `module` of another.
ROOT = Path(workflow.current_basedir.get_path_or_uri(secret_free=False)).parents[1]
# the package in this checkout's src/ (also what the scripts import), installed or not
sys.path.insert(0, str(ROOT / "src"))
from collusion import checks, cluster, config_errors, costs, pipeline, plan, root_owner
from collusion.fingerprint import code_fingerprint
from collusion.spec import canonical_hash
from types import SimpleNamespace


def source_file(*parts):
    """A file of this workflow's source tree, relative to the working directory (a rule input that
    works from any working directory, and in a module; never absolute, so that a copied or moved
    checkout with its results plans nothing)."""
    return os.path.relpath(ROOT.joinpath(*parts))


# Duplicate YAML keys, the schema (defaults filled), then the cross-checks; a few lines each.
try:
    config_errors.check(
        config,
        workflow.configfiles,
        config_errors.SCHEMA,
    )
except checks.ConfigError as error:
    raise WorkflowError(f"config error: {error}") from None


# What this design's claims can answer, before anything runs (dry runs included); never blocks.
if workflow.is_main_process:
    from collusion import power

    print(
        power.report(config, " ".join(map(str, workflow.configfiles))), file=sys.stderr
    )

# every output of this configuration is under its results root (results_root: results/ by default),
# and its logs (but the shared data's) in logs/, or in <root>/logs for another root
RESULTS = pipeline.results_root(config)
LOGS = "logs" if RESULTS == pipeline.RESULTS else f"{RESULTS}/logs"
# one configuration per results root (collusion.root_owner): a root that records another one's
# outputs stops this run (dry runs included) before it writes anything; a real run records its own
# (the Snakefile's onstart). SLURM job steps (not the main process) re-read the same files.
CONFIG_FILES = root_owner.configuration_files(workflow.configfiles)
if workflow.is_main_process:
    try:
        root_owner.check(RESULTS, CONFIG_FILES)
    except checks.ConfigError as error:
        raise WorkflowError(f"results root error: {error}") from None
EXPERIMENTS = list(config["experiments"])
# experiments with runs at β ∈ [0, 1]; the others only demonstrate the divergence at β > 1
SWEEP_EXPERIMENTS = [e for e in EXPERIMENTS if pipeline.sweep_runs(config, e)]
TORCH_ENV = "../../envs/torch.yaml"
ANALYSIS_ENV = "../../envs/analysis.yaml"


wildcard_constraints:
    **pipeline.LABEL_PATTERNS,
    experiment="|".join(EXPERIMENTS),


def run_of(wildcards):
    return pipeline.run_from_wildcards(wildcards, RESULTS)


# The cluster (profiles/slurm/partitions.yaml): training runtimes are capped at its partitions'
# time limits, longer runs trained in segments. Read for every run (the executor's settings are not
# known yet while the Snakefile is parsed); without SLURM the caps only shape the plan.
CLUSTER_FILE = ROOT / "profiles" / "slurm" / "partitions.yaml"
try:  # no file (a copy of the workflow without profiles/): no caps
    CLUSTER = (
        cluster.read_cluster(CLUSTER_FILE)
        if CLUSTER_FILE.exists()
        else cluster.Cluster()
    )
except cluster.ClusterFileError as error:
    raise WorkflowError(f"cluster file error: {error}") from None


def train_cluster_resources(resources):
    """A training job's resources (runtime, GPU request, signal) as functions of its wildcards;
    ``resources(wc)`` gives the job's expected minutes and GPU count (costs.train_resources).
    """

    def get(name):
        return lambda wc, attempt: CLUSTER.train_resources(
            resources(wc)["runtime"], resources(wc)["gpu"], attempt
        ).get(name)

    return {
        name: get(name)
        for name in ("runtime", "gpu", "gres", "gpu_model", "slurm_extra")
    }


def train_group(resources):
    """The SLURM job group of a training job: CPU-sized runs share SLURM jobs (group train_cpu);
    GPU runs, and runs trained in segments (longer than the cap), are submitted alone.
    """

    def group(wc):
        needs = resources(wc)
        alone = needs["gpu"] or CLUSTER.segments(needs["runtime"], needs["gpu"]) > 1
        return None if alone else "train_cpu"

    return group


def train_priority(resources):
    """The longest training jobs first (their expected minutes, costs.train_resources): run
    locally, Snakemake starts the ready job of highest priority, and a long job started last would
    run alone on an otherwise idle machine."""
    return lambda wc: resources(wc)["minutes"]


def train_retries():
    """Retries of the training rules: unset (the run's --retries; the profile's 2) unless a
    training job is longer than the cap; then the segments the longest one needs, plus the
    profile's 2 for failures. A segment requeues its own SLURM job and uses no attempt: these are a
    reserve for clusters that refuse `scontrol requeue` (workflow/scripts/train.py)."""
    segments = 1
    for run, runs_in_job in plan.job_sizes(config):
        needs = costs.train_resources(config, run, runs_in_job)
        segments = max(segments, CLUSTER.segments(needs["runtime"], needs["gpu"]))
    return segments - 1 + cluster.FAILURE_RETRIES if segments > 1 else None


def train_mem_mb(wildcards, input, attempt):
    """Memory grows with the attempt (out of memory), at most 3×: on a cluster that refuses
    requeues, a long run's later attempts are segments, not failures."""
    return int(2000 + 3 * input.size_mb) * min(attempt, 3)


# The training rules' parts (workflow/rules/train.smk, collusion.plan)
def train_job_param(wildcards):
    """A run's training job, for `train`'s params (hidden, collusion.plan)."""
    return plan.hidden(plan.run_job(config, run_of(wildcards)).to_dict())


def train_identity_param(wildcards):
    """The identity param (collusion.plan): the run's own for an unpacked experiment; for a
    packed run, that of the job that trained it."""
    run = run_of(wildcards)
    if wildcards.experiment in plan.packed_experiments(config):
        return plan.held_identity(config, run)
    return plan.run_identity(config, run)


def pack_rule_spec(job):
    """What the training rule of a pack job (collusion.plan.PlannedJob) is made of."""
    needs = costs.train_resources(config, job.runs[0], len(job.runs))
    return SimpleNamespace(
        name=job.slot.rule,
        data=pipeline.prepared_path(job.slot.dataset),
        outputs={"runs": job.outputs},
        key=job.slot.key,
        priority=needs["minutes"],
        resources=lambda wc: needs,
        job=plan.hidden(job.job.to_dict()),
        identity=job.identity(config),
    )


def run_train_resources(wildcards):
    return costs.train_resources(config, run_of(wildcards))


# What the rules downstream of training depend on besides their input files: the identities of the
# runs each reads (their specs, splits and training code, so that an interrupted retrain after a
# change of configuration never leaves a table of the earlier configuration that a rebuild
# accepts), and the fingerprint of the code each runs (an edit reruns exactly those that run it).
_IDENTITIES = {}


def runs_param(runs):
    for run in runs:
        if run not in _IDENTITIES:
            _IDENTITIES[run] = plan.run_identity(config, run)
    return canonical_hash([_IDENTITIES[run] for run in runs])


def code_param(script, *modules):
    return code_fingerprint(source_file("workflow", "scripts", script), modules)


def sources_runs_param(sources):
    """The runs behind paper-level inputs (collusion.figures' kinds): divergence.csv's are the
    β > 1 runs, every other kind derives from the sweeps' runs."""
    runs = []
    if any(source != "divergence" for source in sources):
        runs += [
            run for e in SWEEP_EXPERIMENTS for run in pipeline.sweep_runs(config, e)
        ]
    if "divergence" in sources:
        runs += pipeline.divergent_runs(config)
    return runs_param(runs)


def experiment_tables(name):
    return expand(
        f"{RESULTS}/tables/{{experiment}}/{{name}}.csv",
        experiment=SWEEP_EXPERIMENTS,
        name=name,
    )


# Per-experiment tables: the runs each reads, and which files of each run.
ANALYSES = {
    "runs": ("sweep", ["history.csv", "provenance.json"]),
    "debias": ("sweep", ["predictions.npz"]),
    "learner_dropout": ("sweep", ["predictions.npz"]),
    "gen_gap": ("sweep", ["history.csv"]),
    "dynamics": ("dynamics", ["history.csv"]),
    "calibration": ("sweep", ["predictions.npz"]),
    "improvement": ("sweep", ["predictions.npz"]),
    "curves": ("sweep", ["history.csv"]),
}


def analysis_runs(table):
    """The runs a per-experiment table reads, as a function of its wildcards."""
    select = {"sweep": pipeline.sweep_runs, "dynamics": pipeline.dynamics_runs}[
        ANALYSES[table][0]
    ]
    return lambda wildcards: select(config, wildcards.experiment)


def analysis_inputs(table):
    runs = analysis_runs(table)
    return lambda wildcards: pipeline.run_outputs(runs(wildcards), ANALYSES[table][1])


# Paper tables, figures and report sections: the registries in the library.
from collusion import figures
from collusion.figures import FIGURES, PAPER_TABLES, SECTIONS, input_name


def source_paths(source):
    """The files behind a table or figure input (see collusion.figures for the kinds)."""
    return figures.source_paths(source, SWEEP_EXPERIMENTS, RESULTS)


def figure_inputs(name):
    return {input_name(s): source_paths(s) for s in FIGURES[name].inputs}


def paper_targets():
    """Everything `all` builds (and the report shows): the figures and tables this configuration
    can draw (collusion.figures.drawn_figures, drawn_tables), the claims, the report's pages.
    """
    return (
        expand(
            f"{RESULTS}/paper/figures/{{name}}.{{ext}}",
            name=figures.drawn_figures(config),
            ext=["pdf", "png"],
        )
        + expand(
            f"{RESULTS}/paper/tables/{{name}}.{{ext}}",
            name=figures.drawn_tables(config),
            ext=["csv", "md", "tex", "html"],
        )
        + [
            f"{RESULTS}/paper/claims.md",
            f"{RESULTS}/paper/claims.csv",
            f"{RESULTS}/paper/mitigation_claims.csv",
            f"{RESULTS}/paper/claims.html",
            f"{RESULTS}/paper/summary.html",
            f"{RESULTS}/paper/report.rst",  # the report's landing page (report.smk)
        ]
        # calibration, disagreement and Wood et al.'s decomposition per run (summarised in the
        # beta_sweep and diversity tables); Theisen et al.'s improvement rate and
        # disagreement-error ratio per run
        + experiment_tables("calibration")
        + experiment_tables("improvement")
    )


def on_slurm():
    """Whether this (submitting) run sends its jobs to SLURM (the Snakefile's onstart/onerror)."""
    return getattr(workflow.executor_plugin, "cli_prefix", None) == "slurm"
