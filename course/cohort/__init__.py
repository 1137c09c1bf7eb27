"""The cohort store: one running cohort's state in a database (SQLAlchemy 2, Alembic).

The only place in igcb that talks to the cohort database. `course.room` and
`course.commands` call the functions of this package; `peer_review` stays pure.

- models.py      the tables
- db.py          opening a store (SQLite file with WAL, or any SQLAlchemy URL), migrations
- people.py      roster import (all or nothing, with a report of what changed)
- structure.py   study groups, tutors and the facilitation rota; status; every table for export
- rounds.py      review rounds: opening (allocation, calibration samples, late submissions),
                 aggregation, closing, reviewer records
- gradebook.py   a round's grades into nbgrader's gradebook (closing, a tutor's override)
- reviewing.py   what people do in the room, with every access rule: tasks, reviews,
                 calibration, feedback, ratings, flags, the tutor's queue, progress
"""
