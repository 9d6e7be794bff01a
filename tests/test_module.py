"""The workflow used as a Snakemake `module` of another workflow, from another working directory."""

import pytest

from pipeline_helpers import TINY, copy_workflow, snakemake


@pytest.mark.slow
def test_another_workflow_uses_it_as_a_module_and_plans_a_figure(tmp_path):
    """Paths of the workflow's own files (the schema, the scripts, the code a rule's fingerprint
    covers) resolve from its own folder: given relative to the working directory, they were looked
    for in the outer workflow's folder (MissingInputException). A learner of the outer
    configuration's own (``file.py:Name`` beside it) is found and checked."""
    repo = copy_workflow(tmp_path / "collusion")
    outer = tmp_path / "outer"
    outer.mkdir()
    # a learner of its own beside the outer configuration: found from the module too
    (outer / "own_model.py").write_text(
        "import torch.nn as nn\n\n\ndef build(in_shape, out_dim, width: int = 4):\n"
        "    return nn.Linear(in_shape[0], out_dim)\n"
    )
    own = '  own: {arch: "own_model.py:build", width: 3}\n'
    (outer / "tiny.yaml").write_text(TINY.read_text().replace("models:\n", "models:\n" + own, 1))
    assert own in (outer / "tiny.yaml").read_text()
    (outer / "Snakefile").write_text(
        'configfile: "tiny.yaml"\n\n\n'
        "module collusion:\n"
        f'    snakefile: "{repo / "Snakefile"}"\n'
        "    config: config\n\n\n"
        "use rule * from collusion\n"
    )
    result = snakemake(
        outer, "-n", "--cores", "1", "results/paper/figures/gen_gap.pdf", timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "rule figure_gen_gap:" in output
    assert not (outer / "results").exists()
