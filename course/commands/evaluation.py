"""`igcb evaluation ...` and `igcb alumni ...`: survey answers in, grades copied, the register out."""

COMMANDS = []
