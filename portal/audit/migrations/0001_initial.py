from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies: list = []

    operations = [
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("actor_id", models.BigIntegerField(blank=True, db_index=True, null=True)),
                ("actor_username", models.CharField(blank=True, max_length=150)),
                ("role", models.CharField(blank=True, max_length=32)),
                ("client_ip", models.GenericIPAddressField(blank=True, null=True)),
                ("action", models.CharField(db_index=True, max_length=64)),
                ("outcome", models.CharField(choices=[("allowed", "Allowed"), ("denied", "Denied"), ("failed", "Failed")], max_length=16)),
                ("object_type", models.CharField(blank=True, max_length=64)),
                ("object_ref", models.CharField(blank=True, db_index=True, max_length=64)),
                ("method", models.CharField(blank=True, max_length=8)),
                ("path", models.CharField(blank=True, max_length=255)),
                ("status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("detail", models.JSONField(blank=True, default=dict)),
            ],
            options={"ordering": ["-at", "-id"]},
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["object_type", "object_ref"], name="audit_object"),
        ),
    ]
