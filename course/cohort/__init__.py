"""The cohort store: one running cohort's state in a database (SQLAlchemy 2, Alembic).

The only place in igcb that talks to the cohort database. `course.room` and
`course.commands` call the functions of this package; `peer_review` stays pure.

- models.py      the tables
- db.py          opening a store (SQLite file with WAL, or any SQLAlchemy URL), migrations
- people.py      roster import (all or nothing, with a report of what changed)
- structure.py   study groups, tutors and the facilitation rota, stored
- rounds.py      review rounds: opening from nbgrader or CSV, late submissions, closing
- reviewing.py   what people do in the room: tasks, reviews, calibration, feedback, queue
- export.py      every table as CSV
"""
