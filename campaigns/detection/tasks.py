"""The scheduled detection task (beat entry ``detect-hourly``; routed to queue ``detect``).

Named ``campaigns.tasks.detect_scheduled`` so the ``campaigns.tasks.detect*`` route applies.
Workers register it when ``campaigns.tasks`` imports this module.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="campaigns.tasks.detect_scheduled", ignore_result=True)
def detect_scheduled() -> None:
    """Queue a detection run unless one is queued or running."""
    from campaigns.detection.service import request_detection

    request_detection()
