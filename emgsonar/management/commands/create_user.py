"""``manage.py create_user NAME [--admin] [--token] [--email E] [--permission app.codename]``.

A login in one non-interactive command (``createsuperuser`` needs a TTY or three environment
variables). The password comes from ``--password-stdin``, else ``$EMGSONAR_USER_PASSWORD``,
else it is generated and printed once. Running it again for an existing user changes nothing
and says so; ``--token`` then still issues a token, which is what a re-run usually wants.
"""

from __future__ import annotations

import os
import secrets
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from emgsonar.management.tokens import print_new_token

#: environment variable read for the password when ``--password-stdin`` is not given
PASSWORD_ENV = "EMGSONAR_USER_PASSWORD"


class Command(BaseCommand):
    help = (
        "Create a user who can log in (admin: --admin) and optionally print an API token "
        "(--token); idempotent."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--admin", action="store_true", help="superuser: the admin and every permission"
        )
        parser.add_argument(
            "--permission",
            action="append",
            default=[],
            metavar="APP.CODENAME",
            help="grant a Django permission, e.g. emgsonar.add_importrun (repeatable)",
        )
        parser.add_argument("--token", action="store_true", help="issue and print an API token")
        parser.add_argument("--token-name", default="create_user", help="what the token is for")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help=f"read the password from the first line of stdin (else ${PASSWORD_ENV}, "
            "else one is generated and printed once)",
        )

    def handle(self, *args, username: str, **options) -> None:
        users = get_user_model()
        user = users.objects.filter(**{users.USERNAME_FIELD: username}).first()
        if user is None:
            user = self._create(username, options)
        else:
            self.stderr.write(
                f"user '{username}' exists; left unchanged (change its password with "
                f"'./taskw manage -- changepassword {username}', its rights in the admin)"
            )
        if options["token"]:
            print_new_token(self, user, options["token_name"])

    @transaction.atomic
    def _create(self, username: str, options: dict) -> object:
        """Create the user with its password and permissions, or nothing if any is invalid."""
        users = get_user_model()
        try:
            users._meta.get_field(users.USERNAME_FIELD).clean(username, None)
        except ValidationError as exc:
            raise CommandError(
                f"invalid user name '{username}': {' '.join(exc.messages)}"
            ) from None
        password, generated = self._password(options["password_stdin"])
        user = users(**{users.USERNAME_FIELD: username}, email=options["email"])
        user.is_staff = user.is_superuser = options["admin"]
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError(f"password refused: {' '.join(exc.messages)}") from None
        user.set_password(password)
        user.save()
        user.user_permissions.add(*(_permission(name) for name in options["permission"]))
        role = "administrator" if options["admin"] else "user"
        self.stderr.write(f"created {role} '{username}'")
        if generated:
            self.stderr.write(f"password for {username} (shown once): {password}")
        return user

    def _password(self, from_stdin: bool) -> tuple[str, bool]:
        """The password to set and whether it was generated (then it must be shown)."""
        if from_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin: stdin gave no password")
            return password, False
        if os.environ.get(PASSWORD_ENV):
            return os.environ[PASSWORD_ENV], False
        return secrets.token_urlsafe(12), True


def _permission(name: str) -> Permission:
    """The permission ``app_label.codename``, or an error listing the form it must take."""
    app_label, _, codename = name.partition(".")
    permission = Permission.objects.filter(
        content_type__app_label=app_label, codename=codename
    ).first()
    if permission is None:
        raise CommandError(
            f"unknown permission '{name}'; give app_label.codename, e.g. emgsonar.add_importrun "
            "or ena_like.delete_sample"
        )
    return permission
