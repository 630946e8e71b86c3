"""Celery tasks for inbound media: download one file, sweep the downloads nobody ran.

Each takes ids and calls one service in conversations.services.media_download, which
makes a second run harmless (compare-and-set claim), so `acks_late` redelivery is safe.
Run in-process (tests, the embedded mode) a retry is left to the sweep rather than
re-run at once.
"""

from __future__ import annotations

from celery import shared_task

from config import task_names
from conversations.services.media_download import media_download, media_downloads_redispatch_due

MAX_TASK_RETRIES = 20


@shared_task(bind=True, name=task_names.MEDIA_DOWNLOAD, max_retries=MAX_TASK_RETRIES, ignore_result=True, acks_late=True)
def download_media(self, media_id: int) -> str:
    result = media_download(media_id=media_id)
    if result.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=result.retry_in)
    return result.outcome


@shared_task(name=task_names.MEDIA_DOWNLOADS_SWEEP, ignore_result=True)
def sweep_media_downloads() -> int:
    return media_downloads_redispatch_due()
