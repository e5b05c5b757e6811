"""The built-in retention rules survive a flush (tests' teardown, `clocher manage flush`):
they are written again by the post-migrate hook, not only by their first migration."""

import pytest
from django.core.management import call_command

from clocher.archive.models import RetentionRule


@pytest.mark.django_db(transaction=True)
def test_builtin_rules_come_back_after_a_flush():
    call_command("flush", interactive=False, verbosity=0)
    assert RetentionRule.objects.filter(code="arretes", builtin=True).exists()
