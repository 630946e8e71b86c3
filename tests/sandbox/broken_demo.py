"""A demo module whose own import fails: load_demo must report it, not skip it."""

import handoff_module_that_does_not_exist  # noqa: F401


def load(stdout):
    stdout.write("never reached\n")
