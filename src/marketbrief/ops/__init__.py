"""Operator tools on the store: archive format, backup, restore, prune."""
