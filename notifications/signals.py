"""A recorded decision is sent to the patient who asked for it (thin: one service call)."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from screening.models import Review

from .services import notification_decision_schedule


@receiver(post_save, sender=Review, dispatch_uid="notifications.review_created")
def review_created(sender, instance: Review, created: bool, **kwargs) -> None:
    if created and instance.is_current:
        notification_decision_schedule(screening_id=instance.screening_id)
