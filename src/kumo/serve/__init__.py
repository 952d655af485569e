"""``kumo serve``: the controller as a long-running service.

    controller   start (one SQLite controller only; database migrated), periodic tasks, HTTP,
                 graceful stop on SIGTERM
    tasks        runs each periodic task (kumo.periodic) on its interval, one controller at a
                 time (locks), with its runs recorded, logged and counted
    locks        PostgreSQL advisory locks per task; the SQLite single-controller lock
"""
