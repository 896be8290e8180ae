"""What an analyst does, in a real browser: sign in, open a campaign, zoom the timeline down
to raw requests, drill into an account, link and unlink with a reason, change the status,
add a note, search by IP. Any console error or non-local request fails the test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse

from campaigns.models import AuditEvent, Campaign, Membership, Note
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def test_analyst_works_a_case_end_to_end(watched, world):
    page, watch = watched()
    campaign = world["campaign"]
    sign_in(page, "lead_user")

    # Open the campaign from the list.
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("link", name="Hydra one").click()
    page.wait_for_selector("#timeline-chart .main-svg")
    assert page.locator("#heatmap-fig, [data-figure='heatmap-fig'] .main-svg").count() >= 1

    # Zoom the timeline: drag across a sliver of the plot, as an analyst would.
    page.locator("#timeline-chart").scroll_into_view_if_needed()
    box = page.locator("#timeline-chart .nsewdrag").first.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.04, y, steps=8)
    page.mouse.up()
    page.wait_for_selector("#raw-requests-table table tbody tr td a")
    window_text = page.locator("#timeline-window").inner_text()
    assert re.search(r"Showing 2026-04-01", window_text), window_text

    # Drill into an account from a raw request, then into its requests.
    page.locator("#raw-requests-table tbody tr td a").first.click()
    page.wait_for_selector("h1:has-text('Account')")
    assert page.locator("#account-requests tbody tr").count() >= 1
    page.get_by_label("Asks for reasoning").select_option(label="Yes")
    page.locator("#account-requests form.filters button").click()
    page.wait_for_function("document.querySelectorAll('#account-requests tbody tr').length >= 1")
    page.goto(reverse("campaigns:detail", args=[campaign.pk]))
    page.wait_for_selector("#members-table")

    # Unlink a member with a reason.
    member = world["members"][0]
    row = page.locator("#members-table tr", has_text=member.account_id)
    row.locator("summary").click()
    row.get_by_label("Reason").fill("corporate NAT, not the campaign")
    row.get_by_role("button", name=f"Unlink {member.account_id}").click()
    page.wait_for_selector(".messages .success")
    assert not Membership.objects.get(campaign=campaign, account=member).active

    # Link the candidate with a reason.
    page.get_by_label("Reason for linking acct_candidate").fill("same prepaid card")
    page.locator("#candidates").get_by_role("button", name="Link acct_candidate").click()
    page.wait_for_selector(".messages .success")
    assert Membership.objects.get(campaign=campaign, account=world["candidate"]).active

    # Change the status.
    page.get_by_label("Reason for the status change").fill("evidence is solid")
    page.get_by_role("button", name="Mark confirmed").click()
    page.wait_for_selector("#campaign-status:has-text('confirmed')")
    assert Campaign.objects.get(pk=campaign.pk).status == "confirmed"

    # Add a note.
    page.get_by_label("New note").fill("Confirmed with the payments team.")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_selector("text=Confirmed with the payments team.")
    assert Note.objects.filter(text="Confirmed with the payments team.").exists()

    # Search by IP from the header.
    page.get_by_label("Search accounts, IPs, fingerprints, templates, domains, orgs").fill("203.0.113.7")
    page.get_by_role("button", name="Search", exact=True).first.click()
    page.wait_for_selector("text=request IP")
    for account in world["members"][1:]:
        assert page.locator(f"text={account.account_id}").count() >= 1

    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert {"membership.unlink", "membership.link", "campaign.status", "note.add"} <= set(actions)
    watch.check()


def test_reveal_personal_data_in_the_browser(watched, world):
    page, watch = watched()
    account = world["members"][0]
    sign_in(page, "analyst_user")
    page.goto(reverse("accounts:detail", args=[account.pk]))
    assert account.email not in page.content()
    page.get_by_label("Why you need the personal data").fill("law enforcement request 42")
    page.get_by_role("button", name="Reveal personal data").click()
    page.wait_for_selector(f"#profile-email:has-text('{account.email}')")
    assert AuditEvent.objects.filter(action="account.reveal", reason="law enforcement request 42").exists()
    watch.check()


def test_ingest_page_polls_live_progress(watched, world):
    run = world["run"]
    run.status = "running"
    run.size_bytes, run.bytes_read = 100, 10
    run.save()
    page, watch = watched()
    sign_in(page, "viewer_user")
    page.goto(reverse("ingest:index"))
    page.wait_for_selector("text=updating live")
    run.status, run.bytes_read = "done", 100
    run.save()
    page.wait_for_selector("#ingest-runs:not([hx-trigger])", timeout=10_000)
    assert "updating live" not in page.locator("#ingest-runs").inner_text()
    watch.check()


MAIN_PAGES = ("overview", "list", "campaign", "account", "search", "ingest")


@pytest.mark.parametrize("name", MAIN_PAGES)
def test_main_pages_have_no_serious_accessibility_violations(watched, world, name):
    urls = {"overview": "/", "list": reverse("campaigns:list"),
            "campaign": reverse("campaigns:detail", args=[world["campaign"].pk]),
            "account": reverse("accounts:detail", args=[world["members"][0].pk]),
            "search": reverse("campaigns:search") + "?q=203.0.113.7", "ingest": reverse("ingest:index")}
    # axe is injected as an inline script, which the page's CSP would (rightly) block.
    page, watch = watched(bypass_csp=True)
    sign_in(page, "lead_user")
    page.goto(urls[name])
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => JSON.stringify(await axe.run(document, {resultTypes: ['violations']}))")
    violations = [v for v in json.loads(result)["violations"] if v["impact"] in ("serious", "critical")]
    assert not violations, [(v["id"], v["help"], [n["target"] for n in v["nodes"][:3]]) for v in violations]
    watch.check()
