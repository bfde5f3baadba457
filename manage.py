#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "waf_app.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018  (loads the settings now)
    except ImproperlyConfigured as error:
        sys.exit(f"configuration error: {error}")
    try:
        execute_from_command_line(sys.argv)
    except BrokenPipeError:
        # Output piped into `head` and the like: the reader has gone, which is
        # no error of the command. Python would still try to flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()
