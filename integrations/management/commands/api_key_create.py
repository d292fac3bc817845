"""``manage.py api_key_create <enterprise slug> --name …`` (or ``--operator``): prints a new API key once."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations import selectors
from integrations.services import api_keys


class Command(BaseCommand):
    help = "Create an API key for an enterprise (or an operator key with --operator) and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("enterprise", nargs="?", help="the enterprise's short name (slug)")
        parser.add_argument("--name", default="command line")
        parser.add_argument("--operator", action="store_true", help="a key that reads every enterprise")

    def handle(self, *args: object, **options: object) -> None:
        slug, operator = options["enterprise"], bool(options["operator"])
        if operator == bool(slug):
            raise CommandError("Give an enterprise slug, or --operator (not both).")
        enterprise = None
        if slug:
            enterprise = selectors.enterprise_by_slug(slug=str(slug))
            if enterprise is None:
                raise CommandError(f"No enterprise {slug!r}.")
        created = api_keys.api_key_create(name=str(options["name"]), enterprise=enterprise)
        self.stdout.write(created.secret)
