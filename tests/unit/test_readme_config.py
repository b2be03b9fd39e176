"""The README's configuration table is generated from the settings classes and kept current."""

from __future__ import annotations

from aircast_dev.config_table import (
    TABLE_START,
    all_settings_classes,
    render_readme,
    settings_table,
)
from aircast_dev.stack import project_root


def test_readme_configuration_table_is_current() -> None:
    readme = (project_root() / "README.md").read_text()
    assert TABLE_START in readme
    assert render_readme(readme) == readme, (
        "README.md's configuration table is stale: run `hatch run config-table`"
    )


def test_every_aircast_variable_is_described() -> None:
    table = settings_table(all_settings_classes())
    rows = table.splitlines()[2:]
    assert len(rows) >= 30
    for row in rows:
        variable, _default, meaning = (cell.strip() for cell in row.strip("|").split("|", 2))
        assert variable.strip("`").isupper(), row
        assert len(meaning) > len("(Settings)") + 10, f"undescribed setting: {row}"
