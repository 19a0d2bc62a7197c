"""Error reports never show patient identity, credentials or access tokens.

Django's ``SafeExceptionReporterFilter`` hides only what a view marked with
``sensitive_post_parameters`` and only while ``DEBUG`` is off. The portal's identity fields are
the same on every form and API, so this filter hides them everywhere, always (the debug page
too), in POST data and in traceback frame variables of the same name.
"""

from __future__ import annotations

from django.views.debug import SafeExceptionReporterFilter

# The patient identity fields of the submission form and API.
IDENTITY_FIELDS = ("national_id", "full_name", "date_of_birth", "phone", "symptoms")
# One list of what counts as sensitive in a request or a frame.
SENSITIVE_FIELDS = frozenset(
    {
        *IDENTITY_FIELDS,
        "token",
        "access_token",
        "password",
        "password1",
        "password2",
        "old_password",
        "new_password1",
        "new_password2",
    }
)


class PatientDataExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request) -> bool:
        return True  # also with DEBUG on: the debug page must not show identity either

    def get_post_parameters(self, request):
        if request is None:
            return {}
        params = super().get_post_parameters(request)
        if not params:
            return params
        cleansed = params.copy()
        for name in SENSITIVE_FIELDS & set(cleansed.keys()):
            cleansed[name] = self.cleansed_substitute
        return cleansed

    def cleanse_special_types(self, request, value):
        value = super().cleanse_special_types(request, value)
        if isinstance(value, dict):
            return {
                k: self.cleansed_substitute if k in SENSITIVE_FIELDS else v
                for k, v in value.items()
            }
        return value

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, self.cleansed_substitute if name in SENSITIVE_FIELDS else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
