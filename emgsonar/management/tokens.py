"""Issuing an API token from a management command, shared by ``create_api_token`` and
``create_user --token`` so both print the key the same way."""

from django.core.management.base import BaseCommand

from emgsonar.models import ApiToken


def print_new_token(command: BaseCommand, user: object, name: str = "") -> str:
    """Issue a token for ``user`` and return its key.

    The key goes alone to stdout, so ``TOKEN=$(./taskw manage -- create_user bob --token)``
    captures it; how to use it goes to stderr. It is shown this once: only its hash is stored.
    """
    _, key = ApiToken.issue(user, name)
    command.stdout.write(key)
    command.stderr.write(
        f"API token for {user}: send 'Authorization: Bearer <key>' (shown once, not stored)"
    )
    return key
