"""Administration: regions, clinicians' regions; clinical records are read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from .models import ClinicianProfile, Prediction, Region, Review, Screening

User = get_user_model()


class ChildRegionInline(admin.TabularInline):
    model = Region
    fk_name = "parent"
    extra = 0
    fields = ["code", "name", "is_active"]
    show_change_link = True
    verbose_name = "district"
    verbose_name_plural = "districts"


class RegionLevelFilter(admin.SimpleListFilter):
    title = "level"
    parameter_name = "level"

    def lookups(self, request, model_admin):
        return [("province", "Provinces"), ("district", "Districts")]

    def queryset(self, request, queryset):
        if self.value() == "province":
            return queryset.filter(parent__isnull=True)
        if self.value() == "district":
            return queryset.filter(parent__isnull=False)
        return queryset


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "hierarchy", "parent", "is_active"]
    list_filter = ["is_active", RegionLevelFilter, "parent"]
    search_fields = ["code", "name", "parent__name"]
    ordering = ["parent__code", "code"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]
    actions = ["activate", "deactivate"]
    inlines = [ChildRegionInline]

    @admin.display(description="Hierarchy", ordering="parent__name")
    def hierarchy(self, obj: Region) -> str:
        return obj.hierarchy

    @admin.action(description="Activate selected regions")
    def activate(self, request: HttpRequest, queryset: QuerySet[Region]) -> None:
        n = queryset.update(is_active=True)
        self.message_user(request, f"{n} region(s) activated.", messages.SUCCESS)

    @admin.action(description="Deactivate selected regions (hidden from the upload form)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Region]) -> None:
        n = queryset.update(is_active=False)
        self.message_user(
            request, f"{n} region(s) deactivated; their data stays.", messages.SUCCESS
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deactivate instead: screenings keep their region


class ClinicianProfileInline(admin.StackedInline):
    model = ClinicianProfile
    can_delete = False
    filter_horizontal = ["regions"]
    verbose_name = "clinician regions"
    verbose_name_plural = "clinician regions"
    extra = 1
    max_num = 1


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class ClinicianUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, ClinicianProfileInline]
    list_display = [*UserAdmin.list_display, "served_regions"]

    @admin.display(description="Regions")
    def served_regions(self, obj) -> str:
        profile = getattr(obj, "clinician_profile", None)
        return ", ".join(r.code for r in profile.regions.all()) if profile else ""

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("clinician_profile__regions")


@admin.register(ClinicianProfile)
class ClinicianProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "region_codes"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    filter_horizontal = ["regions"]
    list_filter = ["regions"]

    @admin.display(description="Regions")
    def region_codes(self, obj: ClinicianProfile) -> str:
        return ", ".join(r.code for r in obj.regions.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("regions")


class ReadOnlyAdmin(admin.ModelAdmin):
    """View only: clinical data changes through the portal's own workflow, never the admin."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class PredictionInline(admin.StackedInline):
    model = Prediction
    can_delete = False
    readonly_fields = [
        "prob_covid",
        "prob_normal",
        "prob_pneumonia",
        "label",
        "priority",
        "model_version",
        "weights_sha256",
        "inference_ms",
        "created_at",
    ]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReviewInline(admin.TabularInline):
    model = Review
    extra = 0
    can_delete = False
    fields = readonly_fields = ["created_at", "clinician", "decision", "note", "is_current"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Screening)
class ScreeningAdmin(ReadOnlyAdmin):
    list_display = ["reference", "region", "status", "submitted_at", "completed_at", "attempts"]
    list_filter = ["status", "source_format", "region", "submitted_at"]
    search_fields = ["reference"]
    date_hierarchy = "submitted_at"
    list_select_related = ["region"]
    exclude = ["access_token_hash", "image", "dicom_file"]
    readonly_fields = ["portal_link", "source_format", "quality_flags", "intake_notes"]
    inlines = [PredictionInline, ReviewInline]

    @admin.display(description="Clinician view")
    def portal_link(self, obj: Screening) -> str:
        return format_html(
            '<a href="{}">Open in the portal</a>', reverse("screening:detail", args=[obj.pk])
        )


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = ["screening", "label", "prob_covid", "priority", "model_version", "created_at"]
    list_filter = ["label", "priority", "model_version"]
    search_fields = ["screening__reference"]
    list_select_related = ["screening"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["screening", "decision", "clinician", "is_current", "created_at"]
    list_filter = ["decision", "is_current"]
    search_fields = ["screening__reference", "clinician__username"]
    list_select_related = ["screening", "clinician"]
