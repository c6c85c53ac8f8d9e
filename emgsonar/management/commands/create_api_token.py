"""``manage.py create_api_token USER [--name NAME]``: issue an API token and print its key once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from emgsonar.management.tokens import print_new_token


class Command(BaseCommand):
    help = "Issue an API token for USER; the key is printed once and only its hash is stored."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for")

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"unknown user '{username}'; create it with "
                f"'./taskw manage -- create_user {username} --token'"
            )
        print_new_token(self, user, name)
