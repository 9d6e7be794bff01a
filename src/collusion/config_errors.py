"""Configuration mistakes reported in a few lines: duplicate YAML keys, schema errors (key path,
offending value, what is allowed) and numbers that YAML 1.1 reads as strings."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .pipeline import ConfigError

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
