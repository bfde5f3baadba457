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
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
