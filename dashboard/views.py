"""National dashboard pages (thin: selectors read, services write)."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from screening.models import Region

from . import charts, rollups, selectors, services, stats
from .selectors import LABELS


def _scope(request: HttpRequest) -> selectors.Scope:
    if not selectors.user_can_see_dashboard(user=request.user):
        raise Http404
    rollups.rollup_refresh_if_due()  # embedded mode only: no beat refreshes there
    try:
        months = int(request.GET.get("months") or 12)
    except ValueError:
        months = 12
    code = request.GET.get("region") or None
    scope = selectors.scope_build(region_code=code, months=months, user=request.user)
    if code and scope.region is None:
        raise Http404  # not a region this user serves
    return scope


def _month_labels(summaries) -> list:
    return sorted({row.month for s in summaries for row in s.rows})


def _pct(p: stats.Proportion) -> dict:
    return {
        "value": p.value,
        "low": p.low,
        "high": p.high,
        "successes": p.successes,
        "total": p.total,
    }


@login_required
def index(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    summaries = selectors.dashboard_overview(user=request.user, scope=scope)
    watches = selectors.model_watch(user=request.user, scope=scope)
    reference = selectors.model_card_reference()

    months = _month_labels(summaries)
    by_month = {m: dict.fromkeys(("completed", "pending", "failed", "rejected"), 0) for m in months}
    for s in summaries:
        for row in s.rows:
            for name in by_month[row.month]:
                by_month[row.month][name] += getattr(row, name)
    statuses = ("completed", "pending", "failed", "rejected")
    volume_chart = charts.stacked_bars(
        title="Screenings per month by status",
        labels=[m.strftime("%Y-%m") for m in months],
        series={name: [by_month[m][name] for m in months] for name in statuses},
    )
    per_month: dict = {}
    for region_watch in watches:
        for w in region_watch.rows:
            per_month.setdefault(w.month, []).append(w.agreement)
    pooled = {m: stats.agreement_sum(a) for m, a in sorted(per_month.items())}
    agreement_chart = charts.proportions_with_intervals(
        title="Agreement of the 'high' band with clinicians' decisions per month",
        labels=[m.strftime("%Y-%m") for m in pooled],
        series={
            "sensitivity": [
                (a.sensitivity.value, a.sensitivity.low, a.sensitivity.high)
                for a in pooled.values()
            ],
            "specificity": [
                (a.specificity.value, a.specificity.low, a.specificity.high)
                for a in pooled.values()
            ],
        },
        references={
            "sensitivity": reference["sensitivity"],
            "specificity": reference["specificity"],
        },
    )
    return render(
        request,
        "dashboard/index.html",
        {
            "scope": scope,
            "summaries": summaries,
            "watches": watches,
            "reference": reference,
            "labels": LABELS,
            "volume_chart": volume_chart,
            "agreement_chart": agreement_chart,
            "months_options": (3, 6, 12, 24),
            "can_tune": request.user.is_superuser,
            "as_of": selectors.rollup_as_of(),
        },
    )


CSV_COLUMNS = [
    "region_code",
    "region_name",
    "month",
    "submitted",
    "completed",
    "pending",
    "failed",
    "rejected",
    "predicted_covid",
    "predicted_normal",
    "predicted_pneumonia",
    "median_upload_to_result_seconds",
    "median_upload_to_review_seconds",
    "high_band_sensitivity",
    "high_band_sensitivity_low95",
    "high_band_sensitivity_high95",
    "high_band_specificity",
    "high_band_specificity_low95",
    "high_band_specificity_high95",
    "reviewed_judged",
]


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


@login_required
def export_csv(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    summaries = selectors.dashboard_overview(user=request.user, scope=scope)
    watch = {
        (w.region_id, w.month): w
        for rw in selectors.model_watch(user=request.user, scope=scope)
        for w in rw.rows
    }
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = scope.region.code if scope.region else "national"
    response["Content-Disposition"] = f'attachment; filename="dashboard-{name}.csv"'
    response["Cache-Control"] = "private, no-store"
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for s in summaries:
        for row in s.rows:
            w = watch.get((s.region.pk, row.month))
            sens = w.agreement.sensitivity if w else stats.Proportion(0, 0)
            spec = w.agreement.specificity if w else stats.Proportion(0, 0)
            writer.writerow(
                [
                    s.region.code,
                    s.region.name,
                    row.month.strftime("%Y-%m"),
                    row.submitted,
                    row.completed,
                    row.pending,
                    row.failed,
                    row.rejected,
                    *(row.predicted.get(label, 0) for label in LABELS),
                    _fmt(row.median_result_seconds),
                    _fmt(row.median_review_seconds),
                    _fmt(sens.value),
                    _fmt(sens.low),
                    _fmt(sens.high),
                    _fmt(spec.value),
                    _fmt(spec.low),
                    _fmt(spec.high),
                    w.agreement.total if w else 0,
                ]
            )
            count += 1
    services.dashboard_export_audit(
        request=request, user=request.user, region=scope.region, rows=count
    )
    return response


@login_required
@require_http_methods(["GET", "POST"])
def thresholds(request: HttpRequest, region_code: str) -> HttpResponse:
    if not request.user.is_superuser:
        raise Http404
    region = Region.objects.filter(code=region_code).first()
    if region is None:
        raise Http404
    if request.method == "POST":
        try:
            applied = services.region_thresholds_apply(
                user=request.user, region=region, request=request
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("dashboard:thresholds", region_code=region.code)
        messages.success(
            request,
            f"Thresholds applied for {region.name}: high ≥ {applied.high:.4f}, "
            f"medium ≥ {applied.medium:.4f}.",
        )
        return redirect(f"{_index_url()}?region={region.code}")
    try:
        proposal = services.region_thresholds_propose(region=region)
        error = None
    except ValidationError as exc:
        proposal, error = None, " ".join(exc.messages)
    return render(
        request,
        "dashboard/thresholds.html",
        {
            "region": region,
            "proposal": proposal,
            "error": error,
            "current": selectors.band_thresholds_for_region(region_id=region.pk),
            "reference": selectors.model_card_reference(),
        },
        status=200,
    )


def _index_url() -> str:
    from django.urls import reverse

    return reverse("dashboard:index")
