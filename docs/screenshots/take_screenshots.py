"""Refresh the README's screenshots: overview, a campaign page and an account page, taken with
Debian's headless Chromium against a running server with the demo world loaded.

    python manage.py runserver 127.0.0.1:8150 &   # with the demo world and detection run
    python docs/screenshots/take_screenshots.py --base http://127.0.0.1:8150
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "copycat.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import django

django.setup()

from django.contrib.auth.models import Group, User
from playwright.sync_api import sync_playwright

from accounts.models import Account
from campaigns.models import Campaign

OUT = Path(__file__).resolve().parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8150")
    args = parser.parse_args()
    user, _ = User.objects.get_or_create(username="screenshots")
    user.set_password("screenshots-demo-pw")
    user.save()
    user.groups.add(Group.objects.get(name="lead"))
    campaign = Campaign.objects.order_by("-score").first()
    account = (Account.objects.filter(memberships__campaign=campaign, memberships__active=True)
               .order_by("-request_count").first())
    shots = {"overview.png": "/", "campaign.png": f"/campaigns/{campaign.pk}/", "account.png": f"/accounts/{account.pk}/"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, base_url=args.base)
        page.goto("/login/")
        page.get_by_label("User name").fill("screenshots")
        page.get_by_label("Password").fill("screenshots-demo-pw")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        for name, url in shots.items():
            page.goto(url)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(800)
            page.screenshot(path=str(OUT / name), full_page=True)
            print("wrote", OUT / name)
        browser.close()


if __name__ == "__main__":
    main()
