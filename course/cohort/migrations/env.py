"""Alembic environment of the cohort store: run on the engine `course.cohort.db` passes in."""

from alembic import context

from course.cohort.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    context.run_migrations()
