"""Reading a configuration, and its mistakes reported in a few lines: duplicate YAML keys, schema
errors (key path, offending value, what is allowed), numbers that YAML 1.1 reads as strings.

The schema (config.schema.yaml, beside this module: installed with the package) fills every default: code that reads a
validated configuration indexes it (``config["analysis"]["significance"]``), never
``.get(key, default)``. Where a key maps to a code constant or a dataclass default (aggregations,
executions, data sources, ``Recipe``), the code is the truth and tests/test_config_schema.py checks
that the schema states the same.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, ValidationError, validators

from .checks import ConfigError, check_config, resolve_files
from .pipeline import normalise_grid

# the schema, part of the package (pyproject.toml's package-data): found from a checkout and from
# an installed copy alike
SCHEMA = Path(__file__).resolve().with_name("config.schema.yaml")

# keys renamed since: the old key fails naming the new one (the schema would only refuse it)
RENAMED = {"analysis.dropout": "analysis.learner_dropout"}

# PyYAML follows YAML 1.1: a float needs a dot, and an exponent needs a sign (3.0e-3, 1.0e+6)
_YAML11_NOT_FLOAT = re.compile(r"([-+]?\d+)(?:\.(\d*))?[eE]([-+]?)(\d+)")


class _UniqueKeyLoader(yaml.SafeLoader):
    path = "<config>"

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"{self.path}: key {key!r} appears twice in one mapping (lines {seen[key]} and "
                    f"{line}); YAML would silently keep the last value: delete one of them"
                )
            seen[key] = line
        return super().construct_mapping(node, deep)


def check_yaml_file(path: str | Path) -> None:
    """Raise ConfigError if a YAML mapping in ``path`` repeats a key."""
    loader = type("Loader", (_UniqueKeyLoader,), {"path": str(path)})
    with open(path, encoding="utf-8") as handle:
        yaml.load(handle, Loader=loader)


def yaml11_number(text: str) -> str | None:
    """How to write ``text`` (e.g. '3e-3', a string to PyYAML) so that YAML reads a number."""
    match = _YAML11_NOT_FLOAT.fullmatch(text.strip())
    if not match:
        return None
    whole, fraction, sign, exponent = match.groups()
    return f"{whole}.{fraction or 0}e{sign or '+'}{exponent}"


def _allowed(error) -> str | None:
    kind, value, schema = error.validator, error.validator_value, error.schema
    if kind == "enum":
        return ", ".join(map(repr, value))
    if kind == "type":
        return value if isinstance(value, str) else " or ".join(value)
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": "≥", "maximum": "≤", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return f"a number {sign[kind]} {value}"
    if kind in ("minItems", "maxItems"):
        return f"{'at least' if kind == 'minItems' else 'at most'} {value} item(s)"
    if kind == "additionalProperties":
        return ", ".join(sorted(schema.get("properties", {}))) or "no keys"
    if kind == "required":
        return "the keys " + ", ".join(value)
    if kind == "pattern":
        return f"text matching {value}"
    if kind in ("oneOf", "anyOf"):
        options = [sub.get("enum") or sub.get("const") or sub.get("type") for sub in value]
        return " or ".join(str(option) for option in options if option)
    return None


def schema_message(error) -> str:
    """A jsonschema ValidationError in a few lines (not the whole schema)."""
    where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    lines = [f"{where}: {error.message}", f"  value: {error.instance!r}"[:300]]
    allowed = _allowed(error)
    if allowed:
        lines.append(f"  allowed: {allowed}")
    if isinstance(error.instance, str) and error.validator == "type":
        spelled = yaml11_number(error.instance)
        if spelled:
            lines.append(
                f"  YAML reads {error.instance} as a string (a YAML 1.1 number needs a dot and a "
                f"signed exponent): write {spelled}"
            )
    return "\n".join(lines)


def _filling_defaults(validator_class):
    """A validator that sets each missing property to its schema default before checking it (as
    Snakemake's ``validate`` does, so that nested defaults are filled too)."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from check_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": properties})


def check_renamed(config: dict) -> None:
    for old, new in RENAMED.items():
        *parents, key = old.split(".")
        section = config
        for part in parents:
            section = section.get(part) if isinstance(section, dict) else None
        if isinstance(section, dict) and key in section:
            raise ConfigError(
                f"{old} has been renamed {new}: rename the key (its contents are unchanged)"
            )


def validate(config: dict, schema_path: str | Path = SCHEMA) -> dict:
    """Check ``config`` against the schema and fill in its defaults, in place; a renamed key or a
    schema error is raised as a ConfigError of a few lines (schema_message)."""
    check_renamed(config)
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    try:
        _filling_defaults(Draft202012Validator)(schema).validate(config)
    except ValidationError as error:
        raise ConfigError(schema_message(error)) from None
    return config


def check(config: dict, paths=(), schema_path: str | Path = SCHEMA) -> dict:
    """Everything the workflow checks at start, in place: duplicate keys in the files ``paths``,
    the schema (defaults filled), whole numbers normalised, files of your own found beside the
    configuration (checks.resolve_files), then the cross-references."""
    for path in paths:
        check_yaml_file(path)
    validate(config, schema_path)
    normalise_grid(config)
    resolve_files(config, paths)
    check_config(config)
    return config


def load_config(path: str | Path, schema_path: str | Path = SCHEMA) -> dict:
    """A configuration file as the workflow sees it (see check)."""
    config = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return check(config, [path], schema_path)
