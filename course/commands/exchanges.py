"""`igcb exchanges ...`: match candidates to host organisations for exchanges and internships."""

COMMANDS = []
