import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("screening", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RegionBandThreshold",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("high", models.FloatField(help_text="COVID-19 probability at or above which a case is 'high'.")),
                ("medium", models.FloatField(help_text="... and 'medium' (below: 'low').")),
                ("model_version", models.CharField(max_length=80)),
                ("based_on_reviewed", models.PositiveIntegerField()),
                ("based_on_positive", models.PositiveIntegerField()),
                ("expected_sensitivity", models.FloatField()),
                ("expected_specificity", models.FloatField()),
                ("is_current", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("created_by", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("region", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="band_thresholds", to="screening.region")),
            ],
            options={"ordering": ["-created_at", "-id"]},
        ),
        migrations.AddConstraint(
            model_name="regionbandthreshold",
            constraint=models.UniqueConstraint(condition=models.Q(("is_current", True)), fields=("region",), name="band_threshold_one_current"),
        ),
        migrations.AddConstraint(
            model_name="regionbandthreshold",
            constraint=models.CheckConstraint(condition=models.Q(("medium__gte", 0), ("high__lte", 1), ("medium__lte", models.F("high"))), name="band_threshold_ordered"),
        ),
    ]
