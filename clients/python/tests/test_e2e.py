"""The Python client generated from proto/ alone, against a real crmd: CRUD, filters, update
masks, error details read through the standard grpcio-status library, authentication with an
API key (`authorization: Bearer <key>` metadata), and access decisions."""

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from crm.v1 import (
    access_pb2,
    access_service_pb2,
    access_service_pb2_grpc,
    customer_pb2,
    customer_service_pb2,
    customer_service_pb2_grpc,
)


def details(error: grpc.RpcError):
    """The google.rpc.Status details of an error, unpacked."""
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no google.rpc.Status"
    out = []
    for any_detail in status.details:
        for cls in (error_details_pb2.BadRequest, error_details_pb2.ErrorInfo):
            if any_detail.Is(cls.DESCRIPTOR):
                msg = cls()
                any_detail.Unpack(msg)
                out.append(msg)
    return out


def new_customer(name: str, **kwargs) -> customer_pb2.Customer:
    return customer_pb2.Customer(
        display_name=name, kind=customer_pb2.CUSTOMER_KIND_ORGANIZATION, **kwargs
    )


def test_create_get_list_update_delete_undelete(channel, auth_metadata):
    stub = customer_service_pb2_grpc.CustomerServiceStub(channel)
    tag = "py-" + uuid.uuid4().hex[:8]
    created = stub.CreateCustomer(
        customer_service_pb2.CreateCustomerRequest(
            customer=new_customer(
                "Python Corp",
                tags=[tag],
                employee_count=42,
                contact=customer_pb2.Contact(email="ops@python.example"),
            ),
            request_id=str(uuid.uuid4()),
        ),
        metadata=auth_metadata,
    )
    assert created.name.startswith("customers/")
    assert created.HasField("employee_count") and created.employee_count == 42

    fetched = stub.GetCustomer(customer_service_pb2.GetCustomerRequest(name=created.name), metadata=auth_metadata)
    assert fetched == created

    page = stub.ListCustomers(
        customer_service_pb2.ListCustomersRequest(filter=f'tags: "{tag}" AND employee_count >= 42'),
        metadata=auth_metadata,
    )
    assert [c.name for c in page.customers] == [created.name]

    updated = stub.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(
            customer=customer_pb2.Customer(name=created.name, display_name="Python Corp 2", etag=created.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        ),
        metadata=auth_metadata,
    )
    assert updated.display_name == "Python Corp 2"
    assert updated.employee_count == 42
    assert updated.etag != created.etag

    deleted = stub.DeleteCustomer(customer_service_pb2.DeleteCustomerRequest(name=created.name), metadata=auth_metadata)
    assert deleted.HasField("delete_time")
    restored = stub.UndeleteCustomer(
        customer_service_pb2.UndeleteCustomerRequest(name=created.name), metadata=auth_metadata
    )
    assert not restored.HasField("delete_time")


def test_stale_etag_is_aborted_with_a_reason(channel, auth_metadata):
    stub = customer_service_pb2_grpc.CustomerServiceStub(channel)
    created = stub.CreateCustomer(
        customer_service_pb2.CreateCustomerRequest(customer=new_customer("Etag Ltd")), metadata=auth_metadata
    )
    stub.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(
            customer=customer_pb2.Customer(name=created.name, key_account=True),
            update_mask=field_mask_pb2.FieldMask(paths=["key_account"]),
        ),
        metadata=auth_metadata,
    )
    with pytest.raises(grpc.RpcError) as raised:
        stub.UpdateCustomer(
            customer_service_pb2.UpdateCustomerRequest(
                customer=customer_pb2.Customer(name=created.name, display_name="Lost", etag=created.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            ),
            metadata=auth_metadata,
        )
    assert raised.value.code() == grpc.StatusCode.ABORTED
    [info] = [d for d in details(raised.value) if isinstance(d, error_details_pb2.ErrorInfo)]
    assert info.reason == "ETAG_MISMATCH"
    assert info.domain == "crm.v1"
    assert info.metadata["customer"] == created.name


def test_invalid_fields_are_all_reported(channel, auth_metadata):
    stub = customer_service_pb2_grpc.CustomerServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(
                customer=customer_pb2.Customer(
                    display_name=" ",
                    contact=customer_pb2.Contact(email="not-an-email", phone="12345"),
                )
            ),
            metadata=auth_metadata,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [bad] = [d for d in details(raised.value) if isinstance(d, error_details_pb2.BadRequest)]
    fields = [v.field for v in bad.field_violations]
    assert fields == [
        "customer.display_name",
        "customer.kind",
        "customer.contact.email",
        "customer.contact.phone",
    ]
    assert all(v.description for v in bad.field_violations)


def test_unknown_customer_is_not_found_with_a_reason(channel, auth_metadata):
    stub = customer_service_pb2_grpc.CustomerServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetCustomer(
            customer_service_pb2.GetCustomerRequest(name=f"customers/{uuid.uuid4()}"), metadata=auth_metadata
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    [info] = [d for d in details(raised.value) if isinstance(d, error_details_pb2.ErrorInfo)]
    assert info.reason == "CUSTOMER_NOT_FOUND"


def test_a_call_without_a_valid_key_is_unauthenticated(channel):
    stub = customer_service_pb2_grpc.CustomerServiceStub(channel)
    messages = set()
    for metadata in (
        None,
        [("authorization", "Bearer garbage")],
        [("authorization", "Bearer crm_zz00zz00_" + "A" * 43)],
    ):
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetCustomer(customer_service_pb2.GetCustomerRequest(name="customers/acme"), metadata=metadata)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        [info] = [d for d in details(raised.value) if isinstance(d, error_details_pb2.ErrorInfo)]
        assert info.reason == "UNAUTHENTICATED"
        assert info.domain == "crm.v1"
        messages.add(raised.value.details())
    assert len(messages) == 1, "every authentication failure looks the same"


def test_who_am_i_is_the_bootstrap_admin(channel, auth_metadata):
    access = access_service_pb2_grpc.AccessServiceStub(channel)
    me = access.WhoAmI(access_service_pb2.WhoAmIRequest(), metadata=auth_metadata)
    assert me.principal.name == "principals/admin"
    assert me.api_key.startswith("principals/admin/apiKeys/")
    assert all(p.scope == access_pb2.SCOPE_ALL for p in me.permissions)
    assert "access.manage" in [p.permission for p in me.permissions]


def test_check_permission_for_the_admin_is_granted(channel, auth_metadata):
    customers = customer_service_pb2_grpc.CustomerServiceStub(channel)
    access = access_service_pb2_grpc.AccessServiceStub(channel)
    created = customers.CreateCustomer(
        customer_service_pb2.CreateCustomerRequest(customer=new_customer("Checked Ltd")), metadata=auth_metadata
    )
    decision = access.CheckPermission(
        access_service_pb2.CheckPermissionRequest(permission="customers.update", customer=created.name),
        metadata=auth_metadata,
    )
    assert decision.allowed
    assert decision.reason.code == access_pb2.DECISION_REASON_CODE_GRANTED
    assert decision.reason.role == "roles/admin"
    assert decision.reason.scope == access_pb2.SCOPE_ALL
    assert decision.reason.role_binding.startswith("roleBindings/")
    assert decision.reason.explanation.startswith("Allowed")
