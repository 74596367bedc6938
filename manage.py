#!/usr/bin/env python
"""Runs the sandbox project that shows ormai_django in use."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
