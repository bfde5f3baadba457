"""The sync history keeps one row per attempt and forgets rows past their age."""

from datetime import timedelta

import pytest
from django.utils import timezone

from site_management.caddy.sync import default_node, prune_history
from site_management.models import SyncAttempt


def attempt(node, days_ago):
    return SyncAttempt.objects.create(
        node=node,
        started_at=timezone.now() - timedelta(days=days_ago),
        duration_ms=5,
        trigger="test",
        result=SyncAttempt.Result.APPLIED,
        config_hash="0" * 64,
        site_count=0,
    )


@pytest.mark.django_db
def test_attempts_older_than_the_history_days_are_pruned(settings):
    settings.CADDY_HISTORY_DAYS = 30
    node = default_node()
    old, recent = attempt(node, days_ago=31), attempt(node, days_ago=29)

    assert prune_history() == 1

    assert list(SyncAttempt.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not SyncAttempt.objects.filter(pk=old.pk).exists()
