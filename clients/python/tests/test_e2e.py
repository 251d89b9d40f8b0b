"""The Python client generated from proto/ alone, against a real crmd: CRUD, filters, update
masks, and error details read through the standard grpcio-status library."""

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from crm.v1 import customer_pb2, customer_service_pb2, customer_service_pb2_grpc


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


def test_create_get_list_update_delete_undelete(channel):
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
        )
    )
    assert created.name.startswith("customers/")
    assert created.HasField("employee_count") and created.employee_count == 42

    fetched = stub.GetCustomer(customer_service_pb2.GetCustomerRequest(name=created.name))
    assert fetched == created

    page = stub.ListCustomers(
        customer_service_pb2.ListCustomersRequest(filter=f'tags: "{tag}" AND employee_count >= 42')
    )
    assert [c.name for c in page.customers] == [created.name]

    updated = stub.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(
            customer=customer_pb2.Customer(name=created.name, display_name="Python Corp 2", etag=created.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        )
    )
    assert updated.display_name == "Python Corp 2"
    assert updated.employee_count == 42
    assert updated.etag != created.etag

    deleted = stub.DeleteCustomer(customer_service_pb2.DeleteCustomerRequest(name=created.name))
    assert deleted.HasField("delete_time")
    restored = stub.UndeleteCustomer(customer_service_pb2.UndeleteCustomerRequest(name=created.name))
    assert not restored.HasField("delete_time")


def test_stale_etag_is_aborted_with_a_reason(channel):
    stub = customer_service_pb2_grpc.CustomerServiceStub(channel)
    created = stub.CreateCustomer(customer_service_pb2.CreateCustomerRequest(customer=new_customer("Etag Ltd")))
    stub.UpdateCustomer(
        customer_service_pb2.UpdateCustomerRequest(
            customer=customer_pb2.Customer(name=created.name, key_account=True),
            update_mask=field_mask_pb2.FieldMask(paths=["key_account"]),
        )
    )
    with pytest.raises(grpc.RpcError) as raised:
        stub.UpdateCustomer(
            customer_service_pb2.UpdateCustomerRequest(
                customer=customer_pb2.Customer(name=created.name, display_name="Lost", etag=created.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            )
        )
    assert raised.value.code() == grpc.StatusCode.ABORTED
    [info] = [d for d in details(raised.value) if isinstance(d, error_details_pb2.ErrorInfo)]
    assert info.reason == "ETAG_MISMATCH"
    assert info.domain == "crm.v1"
    assert info.metadata["customer"] == created.name


def test_invalid_fields_are_all_reported(channel):
    stub = customer_service_pb2_grpc.CustomerServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(
                customer=customer_pb2.Customer(
                    display_name=" ",
                    contact=customer_pb2.Contact(email="not-an-email", phone="12345"),
                )
            )
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


def test_unknown_customer_is_not_found_with_a_reason(channel):
    stub = customer_service_pb2_grpc.CustomerServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetCustomer(customer_service_pb2.GetCustomerRequest(name=f"customers/{uuid.uuid4()}"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    [info] = [d for d in details(raised.value) if isinstance(d, error_details_pb2.ErrorInfo)]
    assert info.reason == "CUSTOMER_NOT_FOUND"
