"""Administration: regions, clinicians' regions; clinical records are read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.html import format_html
from django.utils.http import urlsafe_base64_encode

from portal.security.erasure import erase_selected_screenings
from portal.security.patient_access import revoke_patient_links

from .models import ClinicianProfile, Prediction, Region, Review, Screening

User = get_user_model()


class RegionForm(forms.ModelForm):
    """Region codes are stored in capitals: "north-03" is taken as "NORTH-03", not refused."""

    class Meta:
        model = Region
        fields = ["code", "name", "parent", "is_active"]

    def clean_code(self) -> str:
        return (self.cleaned_data.get("code") or "").strip().upper()


def region_label(region: Region) -> str:
    """How a region reads in pickers: code, name, and whether it still takes screenings."""
    label = f"{region.code} – {region.name}"
    return f"{label} (inactive)" if not region.is_active else label


class ChildRegionInline(admin.TabularInline):
    model = Region
    form = RegionForm
    fk_name = "parent"
    extra = 0
    fields = ["code", "name", "is_active"]
    show_change_link = True
    verbose_name = "district"
    verbose_name_plural = "districts"


class ProvinceFilter(admin.SimpleListFilter):
    """ "By province": only provinces are offered (a district has no districts to filter by)."""

    title = "province"
    parameter_name = "province"

    def lookups(self, request, model_admin):
        return [(r.code, region_label(r)) for r in Region.objects.filter(parent__isnull=True)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(parent__code=self.value())
        return queryset


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
    form = RegionForm
    list_display = ["code", "name", "hierarchy", "parent", "is_active"]
    list_filter = ["is_active", RegionLevelFilter, ProvinceFilter]
    search_fields = ["code", "name", "parent__name"]
    ordering = ["parent__code", "code"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]
    actions = ["activate", "deactivate"]
    inlines = [ChildRegionInline]

    def get_search_results(self, request, queryset, search_term):
        """The parent picker (autocomplete) offers provinces only: a district is refused as a
        parent on save, so it must not be offered."""
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if request.path.endswith("/autocomplete/") and request.GET.get("field_name") == "parent":
            queryset = queryset.filter(parent__isnull=True)
        return queryset, may_have_duplicates

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


class RegionPickerMixin:
    """Inactive regions are marked in the clinician's region picker."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "regions":
            field.queryset = Region.objects.select_related("parent").order_by("code")
            field.label_from_instance = region_label
        return field


class ClinicianProfileInline(RegionPickerMixin, admin.StackedInline):
    model = ClinicianProfile
    can_delete = False
    filter_horizontal = ["regions"]
    verbose_name = "regions served"
    verbose_name_plural = "regions served"
    template = "admin/screening/single_stacked.html"
    extra = 1
    max_num = 1


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class ClinicianUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, ClinicianProfileInline]
    list_display = [*UserAdmin.list_display, "served_regions"]
    # Names on the add page too: review history shows the clinician's name, not a username.
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "first_name",
                    "last_name",
                    "email",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )

    @admin.display(description="Regions")
    def served_regions(self, obj) -> str:
        profile = getattr(obj, "clinician_profile", None)
        return ", ".join(r.code for r in profile.regions.all()) if profile else ""

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("clinician_profile__regions")


class ClinicianInvitationForm(forms.ModelForm):
    """One page to add a clinician: name, e-mail and regions; the clinician sets a password
    through the invitation link shown (and e-mailed) afterwards."""

    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    email = forms.EmailField(help_text="The invitation link is sent here.")
    username = forms.CharField(
        max_length=150,
        required=False,
        help_text="Optional: the part of the e-mail address before the @ by default.",
    )

    class Meta:
        model = ClinicianProfile
        fields = ["first_name", "last_name", "email", "username", "regions"]

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with this e-mail address exists already.")
        return email

    def clean(self):
        data = super().clean()
        username = (data.get("username") or (data.get("email") or "").split("@")[0]).strip()
        if username and User.objects.filter(username__iexact=username).exists():
            self.add_error("username", "This username is taken: choose another one.")
        data["username"] = username
        return data


def clinician_invitation_url(*, request: HttpRequest, user) -> str:
    """The set-your-password link (Django's password-reset token: single use, expires after
    ``PASSWORD_RESET_TIMEOUT``)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return request.build_absolute_uri(reverse("password_reset_confirm", args=[uid, token]))


@admin.register(ClinicianProfile)
class ClinicianProfileAdmin(RegionPickerMixin, admin.ModelAdmin):
    list_display = ["user", "full_name", "region_codes"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    filter_horizontal = ["regions"]
    list_filter = ["regions"]

    @admin.display(description="Regions")
    def region_codes(self, obj: ClinicianProfile) -> str:
        return ", ".join(r.code for r in obj.regions.all())

    @admin.display(description="Name", ordering="user__last_name")
    def full_name(self, obj: ClinicianProfile) -> str:
        return obj.user.get_full_name()

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").prefetch_related("regions")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ClinicianInvitationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["first_name", "last_name", "email", "username", "regions"]
        return ["user", "regions"]

    def get_readonly_fields(self, request, obj=None):
        return ["user"] if obj is not None else []

    def save_model(self, request, obj: ClinicianProfile, form, change: bool) -> None:
        if change:
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        with transaction.atomic():
            user = User.objects.create_user(
                username=data["username"],
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
            )  # no password: unusable until the clinician sets one through the invitation
            obj.user = user
            obj.save()
        url = clinician_invitation_url(request=request, user=user)
        send_mail(
            "Your clinician account of the COVID-19 chest X-ray screening portal",
            f"Dear {user.get_full_name()},\n\nan account was made for you (username "
            f"{user.get_username()}). Choose your password here: {url}\n\nThe link works once.",
            None,
            [user.email],
            fail_silently=True,
        )
        self.message_user(
            request,
            format_html(
                "Invitation for {} sent to {}. The link to set a password (works once): "
                '<a href="{}" id="invitation-link">{}</a>',
                user.get_full_name(),
                user.email,
                url,
                url,
            ),
            messages.SUCCESS,
        )


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
    # Audited: complete erasure (portal.security.erasure), patient link revocation.
    actions = [erase_selected_screenings, revoke_patient_links]

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
