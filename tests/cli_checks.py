"""Assertions shared by the CLI tests of every package."""

from __future__ import annotations


def one_line_error(result, *words: str) -> None:
    """The command refused its input: exit status 2 and one 'Error: ...' line naming ``words``."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for word in words:
        assert word in lines[0], result.output
