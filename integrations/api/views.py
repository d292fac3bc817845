"""REST API v1: thin views over services and selectors.

Every view resolves the enterprise from the API key (an operator key names one with ``?enterprise=``) and
looks ids up within it, so another tenant's id is a 404 that changes nothing.
"""

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors as billing_selectors
from cdr.selectors import CdrFilter
from integrations import representations, selectors
from integrations.api.authentication import ApiKeyAuthentication, ApiPrincipal
from integrations.api.pagination import NewestFirstCursor, NewestIdFirstCursor, NewestIssuedFirstCursor
from integrations.api.permissions import HasApiKey
from integrations.api.serializers import (
    BalanceSerializer,
    CallbackCreateSerializer,
    CallbackFilterSerializer,
    CallbackSerializer,
    CdrFilterSerializer,
    CdrSerializer,
    EnterpriseSerializer,
    ErrorSerializer,
    InvoiceSerializer,
)
from integrations.api.throttling import ApiKeyRateThrottle
from integrations.errors import ErrorCode, IntegrationError
from integrations.services import callbacks, idempotency
from tenants.models import Enterprise

ENTERPRISE_PARAMETER = OpenApiParameter(
    "enterprise",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="Operator keys only: the enterprise (slug) to read. Enterprise keys read their own.",
)
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Optional. A retry with the same key and body returns the first response; "
    "the same key with another body is refused with 409. Kept 24 hours.",
)
# The lists' cursor pagination (integrations/api/pagination.py), which the views call by hand: named here for the
# OpenAPI document.
PAGE_PARAMETERS = [
    OpenApiParameter("limit", OpenApiTypes.INT, OpenApiParameter.QUERY, description="Items per page (default 50)."),
    OpenApiParameter(
        "cursor", OpenApiTypes.STR, OpenApiParameter.QUERY, description="From a page's `next` or `previous` link."
    ),
]
ERRORS = {
    code: OpenApiResponse(ErrorSerializer, description=description)
    for code, description in (
        (400, "Invalid input"),
        (401, "Missing, unknown or revoked API key"),
        (403, "The key may not do this"),
        (404, "No such object for this enterprise"),
        (429, "Rate limited"),
        (503, "The rate limiter cannot be reached: try again shortly"),
    )
}


def _page_schema(name: str, item: type[serializers.Serializer]) -> serializers.Serializer:
    return inline_serializer(
        name,
        {
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


class ApiView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        for throttle in getattr(self, "_throttles_checked", []):
            for header, value in throttle.headers().items():
                response[header] = value
        return response

    def get_throttles(self) -> list[Any]:
        self._throttles_checked = super().get_throttles()
        return self._throttles_checked

    @property
    def principal(self) -> ApiPrincipal:
        return self.request.user  # type: ignore[return-value]

    def enterprise(self) -> Enterprise:
        """The enterprise this request may see: the key's own, or the one an operator key names."""
        slug = self.request.query_params.get("enterprise", "")
        own = self.principal.enterprise
        if own is not None:
            if slug and slug != own.slug:
                raise exceptions.NotFound()
            return own
        if not slug:
            raise IntegrationError(
                ErrorCode.ENTERPRISE_REQUIRED, _("An operator key must name the enterprise: ?enterprise=<slug>.")
            )
        enterprise = selectors.enterprise_by_slug(slug=slug)
        if enterprise is None:
            raise exceptions.NotFound()
        return enterprise

    def writable_enterprise(self) -> Enterprise:
        if self.principal.is_operator:
            raise IntegrationError(
                ErrorCode.OPERATOR_KEY_READ_ONLY,
                _("Operator keys read every enterprise but change none; use the enterprise's own key."),
                http_status=status.HTTP_403_FORBIDDEN,
            )
        return self.enterprise()

    def paginate(self, queryset: Any, paginator_class: type[NewestFirstCursor]) -> tuple[Any, NewestFirstCursor]:
        paginator = paginator_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return page, paginator


def _filters(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class CallbackListCreateView(ApiView):
    @extend_schema(
        operation_id="callbacks_list",
        summary="List callback requests, newest first",
        parameters=[CallbackFilterSerializer, ENTERPRISE_PARAMETER, *PAGE_PARAMETERS],
        responses={200: _page_schema("CallbackPage", CallbackSerializer), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        enterprise = self.enterprise()
        filters = _filters(CallbackFilterSerializer, request)
        queryset = selectors.callback_requests_filtered(enterprise=enterprise, **filters)
        page, paginator = self.paginate(queryset, NewestFirstCursor)
        return paginator.get_paginated_response(CallbackSerializer(page, many=True).data)

    @extend_schema(
        operation_id="callbacks_create",
        summary="Ask for a callback (server to server)",
        description="Same number checks and abuse limits as the website widget (per number, per enterprise, "
        "blacklists, spend cap), without a captcha; the key's own rate limit stands for the per-browser limits. "
        "Answers 201 with the new request, or 200 with the request already in flight for that number.",
        request=CallbackCreateSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: CallbackSerializer,
            200: CallbackSerializer,
            409: OpenApiResponse(ErrorSerializer, description="Idempotency-Key reused, or no callbacks now"),
            415: OpenApiResponse(ErrorSerializer, description="The body is not JSON (Content-Type)"),
            **ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        enterprise = self.writable_enterprise()
        serializer = CallbackCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        number = serializer.validated_data["visitor_number"]
        country = serializer.validated_data.get("country", "")
        call_at = serializer.validated_data.get("call_at")
        api_key = self.principal.api_key

        def create() -> idempotency.StoredResponse:
            created = callbacks.api_callback_create(
                enterprise=enterprise, visitor_number=number, country=country, call_at=call_at, api_key=api_key
            )
            return idempotency.StoredResponse(
                status=status.HTTP_200_OK if created.duplicate else status.HTTP_201_CREATED,
                body=CallbackSerializer(created.request).data,
            )

        key = request.headers.get("Idempotency-Key")
        if key is None:
            stored = create()
        else:
            stored = idempotency.idempotent_call(
                enterprise=enterprise,
                key=key,
                fingerprint=idempotency.request_fingerprint(operation="POST /callbacks/", body=serializer.data),
                call=create,
            )
        response = Response(stored.body, status=stored.status)
        if stored.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


def _public_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise exceptions.NotFound() from None


class CallbackDetailView(ApiView):
    @extend_schema(
        operation_id="callbacks_retrieve",
        summary="Read a callback request's status",
        parameters=[
            OpenApiParameter("callback_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            ENTERPRISE_PARAMETER,
        ],
        responses={200: CallbackSerializer, **ERRORS},
    )
    def get(self, request: Request, callback_id: str) -> Response:
        found = selectors.callback_request_of(enterprise=self.enterprise(), public_id=_public_id(callback_id))
        if found is None:
            raise exceptions.NotFound()
        return Response(CallbackSerializer(found).data)


class CallbackCancelView(ApiView):
    @extend_schema(
        operation_id="callbacks_cancel",
        summary="Cancel a callback request that has not reached a phone yet",
        request=None,
        parameters=[OpenApiParameter("callback_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={
            200: CallbackSerializer,
            409: OpenApiResponse(ErrorSerializer, description="Already ringing, connected or finished"),
            **ERRORS,
        },
    )
    def post(self, request: Request, callback_id: str) -> Response:
        enterprise = self.writable_enterprise()
        found = selectors.callback_request_of(enterprise=enterprise, public_id=_public_id(callback_id))
        if found is None:
            raise exceptions.NotFound()
        cancelled = callbacks.api_callback_cancel(request=found)
        return Response(CallbackSerializer(cancelled).data)


class CdrListView(ApiView):
    @extend_schema(
        operation_id="cdrs_list",
        summary="List CDRs (one per call leg), newest first",
        description="Days are in the enterprise's time zone.",
        parameters=[CdrFilterSerializer, ENTERPRISE_PARAMETER, *PAGE_PARAMETERS],
        responses={200: _page_schema("CdrPage", CdrSerializer), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        enterprise = self.enterprise()
        filters = _filters(CdrFilterSerializer, request)
        public_id = filters.pop("callback_id", None)
        callback_request_id = None
        if public_id is not None:
            found = selectors.callback_request_of(enterprise=enterprise, public_id=str(public_id))
            callback_request_id = found.pk if found is not None else -1
        queryset = selectors.cdrs_filtered(
            enterprise=enterprise, filters=CdrFilter(**filters), callback_request_id=callback_request_id
        )
        page, paginator = self.paginate(queryset, NewestIdFirstCursor)
        context = {
            "enterprise_slug": enterprise.slug,
            "callback_ids": selectors.callback_public_ids(
                enterprise=enterprise, request_ids={record.callback_request_id for record in page}
            ),
        }
        return paginator.get_paginated_response(CdrSerializer(page, many=True, context=context).data)


class CdrDetailView(ApiView):
    @extend_schema(
        operation_id="cdrs_retrieve",
        summary="Read one CDR",
        parameters=[OpenApiParameter("cdr_id", OpenApiTypes.INT, OpenApiParameter.PATH), ENTERPRISE_PARAMETER],
        responses={200: CdrSerializer, **ERRORS},
    )
    def get(self, request: Request, cdr_id: str) -> Response:
        enterprise = self.enterprise()
        if not cdr_id.isdigit() or len(cdr_id) > 18:
            raise exceptions.NotFound()
        record = selectors.cdr_of(enterprise=enterprise, pk=int(cdr_id))
        if record is None:
            raise exceptions.NotFound()
        context = {
            "enterprise_slug": enterprise.slug,
            "callback_ids": selectors.callback_public_ids(
                enterprise=enterprise, request_ids={record.callback_request_id}
            ),
        }
        return Response(CdrSerializer(record, context=context).data)


class EnterpriseListView(ApiView):
    @extend_schema(
        operation_id="enterprises_list",
        summary="The enterprises this key may read (an operator key: all of them)",
        responses={200: EnterpriseSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        own = self.principal.enterprise
        enterprises = [own] if own is not None else list(selectors.enterprises_all())
        return Response(EnterpriseSerializer(enterprises, many=True).data)


class InvoiceListView(ApiView):
    @extend_schema(
        operation_id="invoices_list",
        summary="List invoices and credit notes, newest first",
        parameters=[ENTERPRISE_PARAMETER, *PAGE_PARAMETERS],
        responses={200: _page_schema("InvoicePage", InvoiceSerializer), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        queryset = billing_selectors.invoices_of(enterprise=self.enterprise())
        page, paginator = self.paginate(queryset, NewestIssuedFirstCursor)
        return paginator.get_paginated_response(InvoiceSerializer(page, many=True).data)


class BalanceView(ApiView):
    @extend_schema(
        operation_id="balance_retrieve",
        summary="Read the prepaid balance",
        parameters=[ENTERPRISE_PARAMETER],
        responses={200: BalanceSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        funds = billing_selectors.funds_for(enterprise=self.enterprise())
        return Response(representations.balance_representation(funds))


@extend_schema(exclude=True)
class UnknownAddressView(ApiView):
    """An address this API does not have: the same JSON refusal as every other (not Django's HTML page)."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise exceptions.NotFound(_("This API has no such address."))

    post = put = patch = delete = get


_unknown_address = UnknownAddressView.as_view()


@csrf_exempt
def unmatched(request: HttpRequest, rest: str) -> HttpResponse:
    """Any address under /api/v1/ the routes above do not take. One given without its trailing slash is served as
    with it: a redirect would reach a client as a GET, and a create would come back as the list."""
    if not request.path_info.endswith("/"):
        try:
            match = resolve(request.path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not unmatched:
            response: HttpResponse = match.func(request, *match.args, **match.kwargs)
            return response
    response = _unknown_address(request)
    return response
