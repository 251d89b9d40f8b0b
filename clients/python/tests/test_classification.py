"""crm.v1.ClassificationService through the generated Python client, against a real crmd:
purchases (idempotent by order reference), a customer's classification with its reasons, the
active policy, an invalid policy version's field violations read through grpcio-status, listing
by classification, and a role binding limited to some grades."""

import datetime
import uuid

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from google.type import money_pb2

from crm.v1 import (
    access_pb2,
    access_service_pb2,
    access_service_pb2_grpc,
    classification_pb2,
    classification_service_pb2,
    classification_service_pb2_grpc,
    customer_pb2,
    customer_service_pb2,
    customer_service_pb2_grpc,
)

from test_e2e import details, new_customer


def a_day_ago() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1))
    return ts


def usd(units: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="USD", units=units)


def create(channel, auth_metadata, name: str, **kwargs) -> customer_pb2.Customer:
    stub = customer_service_pb2_grpc.CustomerServiceStub(channel)
    return stub.CreateCustomer(
        customer_service_pb2.CreateCustomerRequest(customer=new_customer(name, **kwargs)), metadata=auth_metadata
    )


def test_a_purchase_classifies_the_customer_and_recording_it_again_changes_nothing(channel, auth_metadata):
    classification = classification_service_pb2_grpc.ClassificationServiceStub(channel)
    customer = create(channel, auth_metadata, "Big Spender Ltd")
    # A customer that never bought is POTENTIAL, and says why.
    assert customer.classification.lifecycle_stage.value.lifecycle_stage == classification_pb2.LIFECYCLE_STAGE_POTENTIAL
    assert customer.classification.lifecycle_stage.reasons

    request = classification_service_pb2.RecordPurchaseRequest(
        customer=customer.name, order_ref="SO-1001", amount=usd(120_000), occur_time=a_day_ago()
    )
    first = classification.RecordPurchase(request, metadata=auth_metadata)
    assert not first.already_recorded
    assert first.purchase.name == f"{customer.name}/purchases/SO-1001"
    assert first.purchase.recorder == "principals/admin"
    assert first.customer.activity.window_order_count == 1
    assert first.customer.activity.window_revenue.units == 120_000

    again = classification.RecordPurchase(request, metadata=auth_metadata)
    assert again.already_recorded
    assert again.purchase == first.purchase
    assert again.customer.activity.window_order_count == 1, "the same order counted twice"

    # The same order reference with another amount is a conflict, not a second purchase.
    with pytest.raises(grpc.RpcError) as raised:
        classification.RecordPurchase(
            classification_service_pb2.RecordPurchaseRequest(
                customer=customer.name, order_ref="SO-1001", amount=usd(5), occur_time=a_day_ago()
            ),
            metadata=auth_metadata,
        )
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    [info] = [d for d in details(raised.value) if isinstance(d, error_details_pb2.ErrorInfo)]
    assert info.reason == "PURCHASE_CONFLICT"

    classified = classification.ClassifyCustomer(
        classification_service_pb2.ClassifyCustomerRequest(name=customer.name), metadata=auth_metadata
    )
    value = classified.classification.value_tier
    assert value.value.value_tier == classification_pb2.VALUE_TIER_HIGH
    assert value.source == classification_pb2.CLASS_SOURCE_RULE
    assert any("value_high_min" in reason for reason in value.reasons), list(value.reasons)
    lifecycle = classified.classification.lifecycle_stage
    assert lifecycle.value.lifecycle_stage == classification_pb2.LIFECYCLE_STAGE_NEW
    assert lifecycle.reasons
    assert classified.classification.policy_version >= 1
    assert classified.classification.service_plan.name

    purchases = classification.ListPurchases(
        classification_service_pb2.ListPurchasesRequest(parent=customer.name), metadata=auth_metadata
    )
    assert [p.order_ref for p in purchases.purchases] == ["SO-1001"]


def test_the_active_policy_is_readable_and_an_invalid_version_reports_every_field(channel, auth_metadata):
    classification = classification_service_pb2_grpc.ClassificationServiceStub(channel)
    active = classification.GetPolicy(
        classification_service_pb2.GetPolicyRequest(name="policies/active"), metadata=auth_metadata
    )
    assert active.active
    assert active.name == f"policies/{active.version}"
    assert active.policy.window_days > 0
    assert len(active.policy.recency_days_cuts) == 4

    broken = classification_pb2.ClassificationPolicy()
    broken.CopyFrom(active.policy)
    broken.value_high_min.CopyFrom(usd(1))  # below value_medium_min
    del broken.frequency_cuts[:]
    broken.frequency_cuts.extend([4, 2, 8, 12])  # not ascending
    with pytest.raises(grpc.RpcError) as raised:
        classification.CreatePolicyVersion(
            classification_service_pb2.CreatePolicyVersionRequest(policy=broken, description="broken"),
            metadata=auth_metadata,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [bad] = [d for d in details(raised.value) if isinstance(d, error_details_pb2.BadRequest)]
    fields = [v.field for v in bad.field_violations]
    assert any(f.startswith("policy.value_high_min") for f in fields), fields
    assert any(f.startswith("policy.frequency_cuts") for f in fields), fields
    assert all(v.description for v in bad.field_violations)

    # Nothing was stored: the active version is still the newest one.
    versions = classification.ListPolicyVersions(
        classification_service_pb2.ListPolicyVersionsRequest(), metadata=auth_metadata
    )
    assert versions.policy_versions[0].version == active.version


def test_customers_are_listed_by_grade_after_an_override(channel, auth_metadata):
    customers = customer_service_pb2_grpc.CustomerServiceStub(channel)
    classification = classification_service_pb2_grpc.ClassificationServiceStub(channel)
    tag = "py-grade-" + uuid.uuid4().hex[:8]
    pinned = create(channel, auth_metadata, "Pinned VIP", tags=[tag])
    plain = create(channel, auth_metadata, "Plain Potential", tags=[tag])

    overridden = classification.OverrideClassification(
        classification_service_pb2.OverrideClassificationRequest(
            customer=pinned.name,
            value=classification_pb2.ClassValue(grade=classification_pb2.GRADE_VIP),
            reason="Board-level relationship",
        ),
        metadata=auth_metadata,
    )
    grade = overridden.classification.grade
    assert grade.value.grade == classification_pb2.GRADE_VIP
    assert grade.source == classification_pb2.CLASS_SOURCE_OVERRIDE
    assert grade.rule_value.grade == classification_pb2.GRADE_POTENTIAL
    assert grade.override.actor == "principals/admin"

    def names(filter_: str):
        page = customers.ListCustomers(
            customer_service_pb2.ListCustomersRequest(filter=filter_), metadata=auth_metadata
        )
        return [c.name for c in page.customers]

    assert names(f'tags: "{tag}" AND grade = VIP') == [pinned.name]
    assert names(f'tags: "{tag}" AND grade = POTENTIAL') == [plain.name]

    history = classification.ListClassificationHistory(
        classification_service_pb2.ListClassificationHistoryRequest(
            parent=pinned.name, dimension=classification_pb2.DIMENSION_GRADE
        ),
        metadata=auth_metadata,
    )
    newest = history.entries[0]
    assert newest.to_value.grade == classification_pb2.GRADE_VIP
    assert newest.source == classification_pb2.HISTORY_SOURCE_OVERRIDE


def test_a_binding_limited_to_some_grades_does_not_cover_a_vip(channel, auth_metadata):
    access = access_service_pb2_grpc.AccessServiceStub(channel)
    classification = classification_service_pb2_grpc.ClassificationServiceStub(channel)
    junior = "py-junior-" + uuid.uuid4().hex[:8]
    access.CreatePrincipal(
        access_service_pb2.CreatePrincipalRequest(
            principal_id=junior,
            principal=access_pb2.Principal(
                kind=access_pb2.PRINCIPAL_KIND_USER, display_name="Junior Rep", department="sales"
            ),
        ),
        metadata=auth_metadata,
    )
    binding = access.CreateRoleBinding(
        access_service_pb2.CreateRoleBindingRequest(
            role_binding=access_pb2.RoleBinding(
                principal=f"principals/{junior}",
                role="roles/sales_rep",
                scope=access_pb2.SCOPE_ALL,
                grades=[classification_pb2.GRADE_STANDARD, classification_pb2.GRADE_POTENTIAL],
            )
        ),
        metadata=auth_metadata,
    )
    potential = create(channel, auth_metadata, "Small Fish")
    vip = create(channel, auth_metadata, "Whale Inc")
    classification.OverrideClassification(
        classification_service_pb2.OverrideClassificationRequest(
            customer=vip.name,
            value=classification_pb2.ClassValue(grade=classification_pb2.GRADE_VIP),
            reason="Strategic account",
        ),
        metadata=auth_metadata,
    )

    def check(customer: str) -> access_service_pb2.CheckPermissionResponse:
        return access.CheckPermission(
            access_service_pb2.CheckPermissionRequest(
                principal=f"principals/{junior}", permission="customers.update", customer=customer
            ),
            metadata=auth_metadata,
        )

    allowed = check(potential.name)
    assert allowed.allowed
    assert allowed.reason.code == access_pb2.DECISION_REASON_CODE_GRANTED
    assert allowed.reason.role_binding == binding.name

    denied = check(vip.name)
    assert not denied.allowed
    assert denied.reason.code == access_pb2.DECISION_REASON_CODE_GRADE_NOT_COVERED
    assert denied.reason.role_binding == binding.name
    assert denied.reason.explanation.startswith("Denied")
