"""Worker entry points and task-queue wiring."""
