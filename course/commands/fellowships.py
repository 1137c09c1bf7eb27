"""`igcb fellowships ...`: review fellowship applications with a panel, and select fellows."""

COMMANDS = []
