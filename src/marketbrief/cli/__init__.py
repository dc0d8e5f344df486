"""The `marketbrief` command: the click group, shared helpers, one module per theme."""
