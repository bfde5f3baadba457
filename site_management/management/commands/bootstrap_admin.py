import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first admin user with a random password, once, and print it."

    def handle(self, *args, **options):
        login_file = Path(settings.STATE_DIR) / "first-login.txt"
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            if login_file.exists():
                self.stdout.write(f"first login: {login_file.read_text().strip()}")
            return

        password = secrets.token_urlsafe(12)
        users.create_superuser("admin", "", password)
        login_file.parent.mkdir(parents=True, exist_ok=True)
        login_file.write_text(f"user admin, password {password}\n")
        login_file.chmod(0o600)
        self.stdout.write(f"first login: user admin, password {password}")
