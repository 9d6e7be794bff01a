# Joint Training of Deep Ensembles Fails Due to Learner Collusion: the reproduction pipeline.
# `snakemake --cores all` regenerates results/paper/ on config/config.yaml.


import os
import signal

# The default configuration, unless one is given: `--configfile other.yaml` replaces it (rather
# than being merged over it, which would mix the two configurations' experiments).
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        paper_targets(),


# Inside a SLURM job, SLURM's warning signal before the time limit (USR1, see profiles/slurm/
# partitions.yaml) is for the training process, which saves its checkpoint and exits; the
# snakemake processes between it and SLURM ignore it (the default action would kill them first).
if "SLURM_JOB_ID" in os.environ:
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)

# The cluster file's account, for every job (a rule's own slurm_account, or --set-resources, wins).
if CLUSTER.account:
    for _rule in workflow.rules:
        if "slurm_account" not in _rule.resources:
            _rule.resources["slurm_account"] = CLUSTER.account


onstart:
    # Without SLURM accounting the plugin's default status command, sacct, never sees a job end and
    # the run waits silently until killed: refuse to start instead.
    if getattr(workflow.executor_plugin, "cli_prefix", None) == "slurm":
        if getattr(workflow.executor_settings, "status_command", None) == "sacct":
            problem = cluster.sacct_problem()
            if problem:
                raise WorkflowError(
                    f"SLURM job states cannot be queried with sacct here ({problem}); add "
                    "--slurm-status-command squeue (see profiles/README.md, Status queries)"
                )


onerror:
    # every failed job's logs (grouped jobs too, whose errors Snakemake prints without a cause)
    from collusion.failures import FailedJob, failure_report

    failed = []
    for job in workflow.scheduler.failed:
        members = job.jobs if job.is_group() else [job]
        name = f"group {job.groupid}" if job.is_group() else f"rule {job.rule.name}"
        logs = [str(f) for member in members for f in member.log]
        resources = {
            k: v for k, v in job.resources.items() if isinstance(v, (int, str))
        }
        failed.append(FailedJob(name, str(job.jobid), logs, resources))
    main_logs = (
        log if isinstance(log, (list, tuple)) else [log]
    )  # snakemake's own log(s) of this run
    main_log = "".join(
        Path(f).read_text(errors="replace")
        for f in main_logs
        if f and Path(f).exists()
    )
    on_slurm = getattr(workflow.executor_plugin, "cli_prefix", None) == "slurm"
    print(failure_report(failed, main_log, slurm=on_slurm), file=sys.stderr)
