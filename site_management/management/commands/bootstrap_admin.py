import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERNAME = "admin"


class Command(BaseCommand):
    help = "Create the first admin user with a random password, once, and print it."

    def handle(self, *args, **options):
        login_file = Path(settings.STATE_DIR) / "first-login.txt"
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            self._remind(users, login_file)
            return

        password = secrets.token_urlsafe(12)
        users.create_superuser(USERNAME, "", password)
        login_file.parent.mkdir(parents=True, exist_ok=True)
        login_file.write_text(f"{password}\n")
        login_file.chmod(0o600)
        self.stdout.write(f"first login: user {USERNAME}, password {password}")

    def _remind(self, users, login_file):
        """Repeat the first password only while it still works."""
        user = users.filter(username=USERNAME).first()
        password = login_file.read_text().strip() if login_file.exists() else ""
        if user and password and user.check_password(password):
            self.stdout.write(f"first login: user {USERNAME}, password {password}")
        else:
            self.stdout.write("admin users exist; log in with your own password")
