"""Operator commands (backup, restore, export, import, import-d1, prune): registered by cli."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
