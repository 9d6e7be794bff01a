"""Shared test settings, and the pipeline runs that several test files read (each run once per
session: a test that changes files of a run works on a copy, `copy_run`)."""

import pytest

from pipeline_helpers import TINY, copy_workflow, snakemake


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tests use tiny tensors: intra-op threads only add wake-up latency, and spinning threads slow
    them badly when other jobs share the cores (CPU training is also bit-reproducible only at a
    fixed thread count)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The real Snakefile on tests/configs/tiny.yaml through every rule (--cores 2), in a copy of
    the workflow: read by tests/test_pipeline.py and, on a copy, tests/test_run_outputs.py."""
    workdir = copy_workflow(tmp_path_factory.mktemp("tiny_run"))
    # about 3 minutes on an idle 2-core machine; the margin is for a loaded one
    result = snakemake(workdir, "--cores", "2", "--configfile", str(TINY), timeout=1800)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir
