"""`igcb compendium ...`: the compendium of capacity-development programmes (add, export, stale)."""

COMMANDS = []
