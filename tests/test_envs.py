"""The software each install route provides covers what the code imports, statically (no conda, no
install): every module a rule's script imports, following the imports through the package, is
listed in the rule's conda environment (envs/*.yaml); every module the package imports is a
dependency in pyproject.toml; requirements.lock pins every dependency, to the versions installed
where the tests run, and the environments pin the same versions."""

from __future__ import annotations

import ast
import os
import re
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement

from pipeline_helpers import REPO

SRC = REPO / "src"
RULES = REPO / "workflow" / "rules"
LOCK = REPO / "requirements.lock"
# imported by the package but not installed: tests/data, put on sys.path by `gpu_check --smoke`
LOCAL_MODULES = {"data"}


def normalise(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def module_file(module: str) -> Path | None:
    """The file of a module of this package (its __init__.py for a package), or None."""
    path = SRC.joinpath(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


@cache
def imports_of(path: Path, module: str | None) -> frozenset[str]:
    """The absolute names of the modules a file imports, anywhere in it (an import inside a
    function counts: the rule that calls it needs it); ``module`` is the file's own name."""
    package = module if module and path.name == "__init__.py" else (module or "").rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the file's package, `level` folders up
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            found.add(base)
            # `from package import submodule` imports the submodule
            found |= {f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}")}
        elif (  # importlib.import_module(f"{__name__}.{name}"): every module of the package
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
        ):
            found |= {
                f"{package}.{p.stem}" for p in path.parent.glob("*.py") if p.name != "__init__.py"
            }
    return frozenset(found)


@cache
def third_party(path: Path, module: str | None = None) -> frozenset[str]:
    """The top-level names of the modules outside the standard library and this package that a
    file imports, directly or through this package's modules."""
    seen, todo, outside = set(), [(path, module)], set()
    while todo:
        path, module = todo.pop()
        for name in imports_of(path, module):
            top = name.partition(".")[0]
            if top != "collusion":
                if top not in sys.stdlib_module_names and top not in LOCAL_MODULES:
                    outside.add(top)
                continue
            parts = name.split(".")  # importing a.b.c runs a, a.b and a.b.c
            for depth in range(1, len(parts) + 1):
                parent = ".".join(parts[:depth])
                if parent not in seen and module_file(parent):
                    seen.add(parent)
                    todo.append((module_file(parent), parent))
    return frozenset(outside)


@cache
def providers() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def distributions(module: str) -> set[str]:
    """The installed distributions that provide a top-level module (``yaml`` -> pyyaml)."""
    found = providers().get(module)
    assert found, f"no installed distribution provides the module {module!r}"
    return {normalise(name) for name in found}


def rule_scripts() -> list[tuple[str, str, Path, str | None]]:
    """(rule file, rule, script, its conda environment's file) for every rule with a script."""
    envs = dict(re.findall(r'^(\w+_ENV) = "(.+)"$', (RULES / "common.smk").read_text(), re.M))
    found = []
    for smk in sorted(RULES.glob("*.smk")):
        # a block per rule: `rule name:`, or `rule:` with `name:` (the rules made in a loop)
        for block in re.split(r"^\s*rule\b", smk.read_text(), flags=re.M)[1:]:
            name = re.match(r"\s*(\w*)", block).group(1) or re.search(
                r"name:\s*(\S+)", block
            ).group(1)
            script = re.search(r'script:\s*"([^"]+)"', block)
            if script is None:
                assert not re.search(r"^\s+(shell|run):", block, re.M), (
                    f"{smk.name}: rule {name} runs code without a script: check its environment"
                )
                continue
            conda = re.search(r"conda:\s*(\S+)", block)
            env = envs.get(conda.group(1), conda.group(1).strip('"')) if conda else None
            env = (smk.parent / env).resolve() if env else None
            found.append((smk.name, name, (smk.parent / script.group(1)).resolve(), env))
    return frozenset(found)


def env_packages(env_file: Path) -> dict[str, str | None]:
    """An environment's packages, conda's and pip's: name -> pinned version (None if not pinned)."""
    packages = {}
    for entry in yaml.safe_load(env_file.read_text())["dependencies"]:
        for spec in entry["pip"] if isinstance(entry, dict) else [entry]:
            if spec.startswith("-"):  # a pip option (--extra-index-url ...)
                continue
            spec = spec.replace("=", "==", 1) if re.match(r"^[\w.-]+=[^=]", spec) else spec
            requirement = Requirement(spec)
            pins = [s.version for s in requirement.specifier if s.operator == "=="]
            packages[normalise(requirement.name)] = pins[0] if pins else None
    return packages


def lock_pins() -> dict[str, tuple[str, Marker | None, bool]]:
    """requirements.lock: name -> (version, marker, whether only PyTorch's CUDA build needs it)."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        line, _, comment = line.partition(" #")
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            cuda = comment.strip() == "cuda"
            pins[normalise(requirement.name)] = (specifier.version, requirement.marker, cuda)
    return pins


SCRIPTS = rule_scripts()


def test_the_rules_are_found():
    names = {name for _, name, _, _ in SCRIPTS}
    # the training rules (train and the pack jobs') are one rule block named _rule.name
    assert {"_rule.name", "claims", "prepare_offline", 'f"figure_{name}"'} <= names, names


@pytest.mark.parametrize(
    "rule_file, rule, script, env", SCRIPTS, ids=[f"{s[0]}:{s[1]}" for s in SCRIPTS]
)
def test_every_rule_environment_provides_what_its_script_imports(rule_file, rule, script, env):
    assert env is not None, f"{rule_file}: rule {rule} names no conda environment"
    assert env.is_file(), f"{rule_file}: rule {rule}'s environment {env} does not exist"
    listed = set(env_packages(env))
    missing = {
        module: sorted(distributions(module))
        for module in third_party(script)
        if not distributions(module) & listed
    }
    assert not missing, (
        f"{rule_file}: rule {rule} runs {script.name}, which imports (directly or through the "
        f"package) modules that {env.relative_to(REPO)} does not list: {missing}"
    )


def test_the_import_scan_follows_the_package():
    """Known facts: prepare_offline's script reaches mnist1d through collusion.data (an import
    inside a function), the figure script every figure module's imports (the registry imports
    them by name)."""
    assert "mnist1d" in third_party(REPO / "workflow" / "scripts" / "prepare.py")
    assert "matplotlib" in third_party(REPO / "workflow" / "scripts" / "figure.py")
    assert "torch" in third_party(REPO / "workflow" / "scripts" / "train.py")


def pyproject_dependencies() -> dict[str, Requirement]:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        requirements += [Requirement(r) for r in extra]
    return {normalise(r.name): r for r in requirements}


def test_pyproject_declares_every_module_the_package_imports():
    declared = set(pyproject_dependencies())
    missing = {}
    for path in sorted((SRC / "collusion").rglob("*.py")):
        module = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        for name in third_party(path, module):
            if not distributions(name) & declared:
                missing.setdefault(name, []).append(str(path.relative_to(REPO)))
    assert not missing, f"pyproject.toml's dependencies lack the providers of {missing}"


def test_the_lock_pins_every_dependency_within_pyprojects_ranges():
    pins = lock_pins()
    for name, requirement in pyproject_dependencies().items():
        assert name in pins, f"requirements.lock does not pin {name} (regenerate it: make lock)"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name][0]}, outside pyproject's {requirement}"
        )


def test_the_tests_run_with_the_locked_versions():
    """The lock is what the tests ran with: every pin that applies here is the installed version
    (a local build such as torch 2.14.1+cpu counts as 2.14.1; with that CPU-only build, `make venv
    TORCH=cpu`, the lines marked `# cuda` are not installed)."""
    cpu_only = metadata.version("torch").endswith("+cpu")
    wrong = {}
    for name, (version, marker, cuda) in lock_pins().items():
        if (marker is not None and not marker.evaluate()) or (cuda and cpu_only):
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or installed.split("+")[0] != version:
            wrong[name] = (version, installed)
    assert not wrong, f"locked vs installed: {wrong}; `make venv` installs the lock"


@pytest.mark.parametrize("env", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_the_environments_pin_the_locked_versions(env):
    pins = lock_pins()
    for name, version in env_packages(env).items():
        if name in ("python", "pip"):
            continue
        assert name in pins, f"{env.name}: {name} is not in requirements.lock"
        assert version == pins[name][0], (
            f"{env.name} pins {name} to {version}, requirements.lock to {pins[name][0]}"
        )
    python = re.search(r"Python (\d+\.\d+)", LOCK.read_text()).group(1)
    assert env_packages(env)["python"] == python, f"{env.name}: not the lock's Python {python}"


@pytest.mark.slow
def test_an_installed_copy_of_the_package_reads_a_configuration(tmp_path):
    """`pip install .` (not editable) gives a package that works without the checkout: built from
    a copy of pyproject.toml and src/ (so that nothing is written here), without dependencies or
    build isolation (this environment has them), into a folder that a Python started elsewhere
    puts first on its path; it validates the default configuration (the schema is package data)."""
    import shutil
    import subprocess

    source = tmp_path / "source"
    shutil.copytree(SRC, source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "LICENSE"):
        shutil.copy(REPO / name, source)
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    built = subprocess.run(
        [*pip, "--target", str(site), str(source)], capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert not (site / "collusion" / "__init__.py").is_symlink()
    check = (
        "import sys, collusion\n"
        "from collusion.config_errors import load_config\n"
        "print(collusion.__file__)\n"
        "print(sorted(load_config(sys.argv[1])['experiments']))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", check, str(REPO / "config" / "config.yaml")],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    where, experiments = result.stdout.splitlines()
    assert Path(where).is_relative_to(site), where  # the installed copy, not this checkout's
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert experiments == str(sorted(config["experiments"]))
