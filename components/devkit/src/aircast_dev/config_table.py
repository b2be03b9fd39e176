"""The README's configuration table, generated from every settings class.

``hatch run config-table`` writes it. It lives in the dev kit because it spans the core, the API
and the dev kit itself; a test keeps the README's copy current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import AliasChoices, SecretStr
from pydantic_settings import BaseSettings

from aircast.settings import core_settings_classes
from aircast_api.settings import ApiSettings
from aircast_dev.settings import StackSettings

TABLE_START = "<!-- config-table:start -->"
TABLE_END = "<!-- config-table:end -->"


def _env_name(cls: type[BaseSettings], name: str) -> str:
    field = cls.model_fields[name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    if isinstance(alias, str):
        return alias
    prefix = str(cls.model_config.get("env_prefix", ""))
    return f"{prefix}{name}".upper()


def _default_text(cls: type[BaseSettings], name: str) -> str:
    field = cls.model_fields[name]
    if field.is_required():
        return "(required)"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if value == "":
        return "empty"
    return f"`{value}`"


def settings_table(classes: list[type[BaseSettings]]) -> str:
    """A Markdown table: variable, default, meaning, for every field of ``classes``."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for cls in classes:
        for name, field in cls.model_fields.items():
            description = (field.description or "").replace("|", "\\|")
            lines.append(
                f"| `{_env_name(cls, name)}` | {_default_text(cls, name)} | "
                f"{description} ({cls.__name__}) |"
            )
    return "\n".join(lines)


def all_settings_classes() -> list[type[BaseSettings]]:
    """The core's classes, the API's and the dev kit's, in README order."""
    return [*core_settings_classes(), ApiSettings, StackSettings]


def render_readme(text: str) -> str:
    """``text`` (the README) with its configuration table regenerated."""
    head, _, rest = text.partition(TABLE_START)
    _, _, tail = rest.partition(TABLE_END)
    if not rest:
        raise ValueError(f"the README has no {TABLE_START} marker")
    table = settings_table(all_settings_classes())
    return f"{head}{TABLE_START}\n{table}\n{TABLE_END}{tail}"


def main() -> None:  # pragma: no cover - `hatch run config-table`
    """Regenerate the table in the README named by the first argument (default README.md)."""
    readme = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("README.md")
    readme.write_text(render_readme(readme.read_text()))
    print(f"configuration table regenerated in {readme}")


if __name__ == "__main__":  # pragma: no cover
    main()
