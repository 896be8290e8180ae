"""Sign-in with throttling: repeated failures for one user name or one address lock it out.

Counts live in the cache (Redis), so every web process sees the same numbers.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError


def _limits(request, username: str) -> list[tuple[str, int]]:
    """(cache key, failures allowed): per user name, and looser per address (offices share one)."""
    address = request.META.get("REMOTE_ADDR", "?") if request is not None else "?"
    limit = settings.LOGIN_FAILURE_LIMIT
    return [(f"login-fail:user:{username.lower()[:150]}", limit), (f"login-fail:addr:{address}", limit * 4)]


class ThrottledAuthenticationForm(AuthenticationForm):
    def clean(self):
        username = self.data.get("username", "") or ""
        limits = _limits(self.request, username)
        if any((cache.get(key) or 0) >= allowed for key, allowed in limits):
            minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
            raise ValidationError(
                f"Too many failed sign-ins for this user or address. Wait {minutes} minutes and try again, "
                "or ask an admin to check the account.", code="throttled")
        try:
            return super().clean()
        except ValidationError:
            for key, _ in limits:
                cache.add(key, 0, settings.LOGIN_LOCKOUT_SECONDS)
                cache.incr(key)
            raise


class LoginView(auth_views.LoginView):
    authentication_form = ThrottledAuthenticationForm
