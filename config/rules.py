"""Reading the merchant's rules file (YAML or JSON; schema in docs/rules.md)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import ValidationError

from domain.rules import FulfilmentRules


class RulesFileError(ValueError):
    """The rules file can't be used; the message names the file, the key and the problem."""


def load_rules(path: Path | None) -> FulfilmentRules:
    """The rules in ``path``; the documented defaults when no file is configured."""
    if path is None:
        return FulfilmentRules()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RulesFileError(f"{path}: cannot read the rules file ({error.strerror})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise RulesFileError(f"{path}: not valid {_format(path)}: {error}") from None
    if data is None:
        return FulfilmentRules()
    if not isinstance(data, dict):
        raise RulesFileError(f"{path}: the top level must be a mapping of rule sections")
    try:
        return FulfilmentRules.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(top)'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise RulesFileError(f"{path}: {problems}") from None


def _format(path: Path) -> str:
    return "JSON" if path.suffix == ".json" else "YAML"
