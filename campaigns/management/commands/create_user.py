"""python manage.py create_user NAME --role ROLE [--token] [--password P] [--email E]

Creates the user (or changes the role of an existing one), and with --token creates an API
token and prints it. Role changes and token creation go into the audit trail.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from campaigns import audit
from copycat import roles


class Command(BaseCommand):
    help = "Create a Copycat user with a role (viewer, analyst, lead, admin); --token prints an API token."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--role", required=True, choices=roles.ROLES)
        parser.add_argument("--token", action="store_true", help="Create (or rotate) an API token and print it.")
        parser.add_argument("--password", help="Set a password for signing in to the pages.")
        parser.add_argument("--email", default="")
        parser.add_argument("--reason", default="created with manage.py create_user")

    def handle(self, *args, name, role, token, password, email, reason, **options):
        name = name.strip()
        if not name:
            raise CommandError("Give a user name.")
        users = get_user_model()
        with transaction.atomic():
            user, created = users.objects.get_or_create(username=name, defaults={"email": email})
            if password:
                user.set_password(password)
            elif created:
                user.set_unusable_password()
            user.is_staff = role == roles.ADMIN
            user.save()
            before = roles.role_of(user) if not created else None
            user.groups.remove(*Group.objects.filter(name__in=roles.ROLES))
            group, _ = Group.objects.get_or_create(name=role)
            user.groups.add(group)
            if created:
                audit.record("user.create", object_type="user", object_id=user.pk, reason=reason,
                             data={"username": name, "role": role})
            elif before != role:
                audit.record("user.role", object_type="user", object_id=user.pk, reason=reason,
                             data={"username": name, "from": before, "to": role})
            key = None
            if token:
                Token.objects.filter(user=user).delete()
                key = Token.objects.create(user=user).key
                audit.record("token.create", object_type="user", object_id=user.pk, reason=reason,
                             data={"username": name, "rotated": not created})
        verb = "created" if created else "updated"
        self.stderr.write(f"User {name} {verb} with role {role}.")
        if key:
            self.stdout.write(key)
