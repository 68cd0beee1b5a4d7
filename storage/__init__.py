"""Persistence: SQLAlchemy models, repositories, engine and Alembic migrations."""
